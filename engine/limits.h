// Every capacity, timeout and size of the runtime, in one place, checked at compile time.
// A queue or pool that reaches its maximum behaves as documented beside the constant.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hayate::limits {

// SMTP replies. RFC 5321 4.5.3.1.5: a reply line is at most 512 octets; real servers exceed
// it, so accept more, and treat longer lines as a malformed reply (the connection is dropped).
inline constexpr std::uint32_t reply_line_bytes_max = 4096;
inline constexpr std::uint32_t reply_lines_max = 64;  // lines of one multiline reply
inline constexpr std::uint32_t reply_bytes_max = reply_line_bytes_max * 4;
static_assert(reply_line_bytes_max >= 512);

// RFC 5321 4.5.3.1: path 256 octets, local part 64, domain 255, command line 512.
inline constexpr std::uint32_t address_bytes_max = 254;  // RFC 3696 errata: 254 for a path
inline constexpr std::uint32_t local_part_bytes_max = 64;
inline constexpr std::uint32_t domain_bytes_max = 253;
inline constexpr std::uint32_t label_bytes_max = 63;

// RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with CRLF.
inline constexpr std::uint32_t message_line_bytes_max = 998;

// RFC 5321 4.5.3.2: client timeouts (defaults; the job file can lower or raise them).
inline constexpr std::uint32_t connect_timeout_ms = 30'000;
inline constexpr std::uint32_t greeting_timeout_ms = 300'000;      // 4.5.3.2.1: 5 minutes
inline constexpr std::uint32_t command_timeout_ms = 300'000;       // MAIL, RCPT: 5 minutes
inline constexpr std::uint32_t data_init_timeout_ms = 120'000;     // 4.5.3.2.4: 2 minutes
inline constexpr std::uint32_t data_block_timeout_ms = 180'000;    // 4.5.3.2.5: 3 minutes
inline constexpr std::uint32_t data_term_timeout_ms = 600'000;     // 4.5.3.2.6: 10 minutes
inline constexpr std::uint32_t idle_timeout_ms = 5'000;  // an idle pooled connection QUITs

// Shards and rings.
inline constexpr std::uint32_t shards_max = 256;
inline constexpr std::uint32_t ring_entries = 4096;              // SQ size per shard
inline constexpr std::uint32_t connections_per_shard_max = 16384;
inline constexpr std::uint32_t recv_buffer_bytes = 16384;        // one provided buffer
inline constexpr std::uint32_t recv_buffers_per_shard = 4096;    // power of two (buffer ring)
static_assert((recv_buffers_per_shard & (recv_buffers_per_shard - 1)) == 0);
static_assert(recv_buffer_bytes >= reply_line_bytes_max);

// Work handed to a shard: recipients travel in batches through a bounded queue. When the
// queue is full the reader waits, so memory stays bounded whatever the size of the list.
inline constexpr std::uint32_t recipients_per_batch = 256;
inline constexpr std::uint32_t batches_per_shard_queue = 64;
inline constexpr std::uint32_t recipients_pending_max = 200'000;  // across all shards

// Pipelining: MAIL + RCPTs + DATA in one write (RFC 2920).
inline constexpr std::uint32_t pipelined_commands_max = 128;
inline constexpr std::uint32_t recipients_per_transaction_max = 100;  // RFC 5321 4.5.3.1.8
static_assert(recipients_per_transaction_max + 2 <= pipelined_commands_max);

// SMTP server (engine/smtp/server: hayate-sink, the bounce receiver). Per thread unless said.
// RFC 5321 4.5.3.1.4 allows 512 octets per command line; ESMTP parameters make real lines
// longer, so accept up to this many bytes (line ending excluded). A longer line is answered
// 500 5.5.0 once it ends, and the session goes on.
inline constexpr std::uint32_t server_command_line_bytes_max = 2048;
// RFC 5321 4.5.3.1.8: a server must accept at least 100 recipients; more get 452 4.5.3.
inline constexpr std::uint32_t server_recipients_per_transaction_max = 1000;
// Input that arrives while a reply is delayed waits in memory, up to this much; beyond, the
// client is abusive and the connection is closed.
inline constexpr std::uint32_t server_pending_input_bytes_max = 16u << 20;
// A kept message buffer larger than this is released after the message, not reused.
inline constexpr std::uint32_t server_content_capacity_kept_max = 1u << 20;
// Replies waiting behind a send that cannot complete (a client that writes and never reads):
// beyond this the client is abusive and its connection is closed.
inline constexpr std::uint32_t server_output_bytes_max = 4u << 20;
inline constexpr std::uint32_t server_threads_max = 64;
inline constexpr std::uint32_t server_connections_per_thread_max = 16384;  // beyond: 421, close
inline constexpr std::uint32_t server_ring_entries = 4096;
inline constexpr std::uint32_t server_completion_entries = 4 * server_ring_entries;
inline constexpr std::uint32_t server_recv_buffers = 1024;  // provided buffers per thread
inline constexpr std::uint32_t server_recv_buffer_bytes = 16384;
inline constexpr std::uint32_t server_listen_backlog = 4096;
inline constexpr std::uint32_t server_drain_timeout_ms = 2000;  // stop: time to flush replies
// RFC 5321 4.5.3.2.7: a server waits at least 5 minutes for the next command, then 421.
inline constexpr std::uint32_t server_idle_timeout_ms = 300'000;
static_assert(server_command_line_bytes_max >= 512);
static_assert(server_recipients_per_transaction_max >= 100);
static_assert((server_recv_buffers & (server_recv_buffers - 1)) == 0, "buffer ring: power of 2");
static_assert(server_recv_buffers <= 32768, "buffer ids are 16 bits");

// DNS.
inline constexpr std::uint32_t dns_timeout_ms = 5'000;
inline constexpr std::uint32_t dns_tries = 3;
inline constexpr std::uint32_t mx_hosts_max = 16;          // more MX records are ignored
inline constexpr std::uint32_t addresses_per_host_max = 8;
inline constexpr std::uint32_t ptr_names_max = 8;          // more PTR records are ignored
inline constexpr std::uint32_t dns_negative_ttl_s = 300;   // cache of failures
inline constexpr std::uint32_t dns_ttl_max_s = 86'400;
// Lookups a shard has in flight at once; more wait their turn. Thousands of new domains at
// the start of a run would otherwise overflow the UDP receive buffers (the server's or ours)
// and lose answers.
inline constexpr std::uint32_t dns_lookups_in_flight_max = 128;

// Campaign inputs.
inline constexpr std::uint32_t csv_row_bytes_max = 1 << 20;  // a longer row is rejected
inline constexpr std::uint32_t csv_columns_max = 1024;
inline constexpr std::uint32_t template_bytes_max = 16 << 20;
// [delivery] ca_file, read whole before OpenSSL parses it. Debian's whole system bundle
// (ca-certificates.crt) is about 220 KB.
inline constexpr std::uint32_t ca_file_bytes_max = 16 << 20;
inline constexpr std::uint32_t campaign_id_bytes_max = 64;

// Output.
inline constexpr std::uint32_t log_buffer_bytes = 256 * 1024;  // flushed when full or idle

// Bounce messages (campaign/bounce/report_parser.h): a hostile or broken message is read up
// to these caps and no further; what lies beyond them is ignored, never an error.
inline constexpr std::uint32_t bounce_message_bytes_max = 16 << 20;  // read of one message
inline constexpr std::uint32_t bounce_header_bytes_max = 256 * 1024;  // one header block
inline constexpr std::uint32_t bounce_header_fields_max = 1024;       // per header block
inline constexpr std::uint32_t bounce_mime_depth_max = 8;    // nested multiparts and messages
inline constexpr std::uint32_t bounce_mime_parts_max = 256;  // parts of one message, in all
inline constexpr std::uint32_t bounce_decoded_bytes_max = 16 << 20;  // base64/QP output, in all
inline constexpr std::uint32_t bounce_findings_max = 1024;   // failed recipients per message
inline constexpr std::uint32_t bounce_text_bytes_max = 64 * 1024;  // report text searched
// Bounces a shard keeps for the suppression list until its run ends (campaign/bounce/recording.h):
// about 80 bytes each; past this the run reads them back from deliveries.jsonl instead.
inline constexpr std::uint32_t bounce_events_held_max = 100'000;

}  // namespace hayate::limits
