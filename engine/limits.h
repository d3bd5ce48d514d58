// Every capacity, timeout and size of the runtime, in one place, checked at compile time.
// A queue or pool that reaches its maximum behaves as documented beside the constant. The
// campaign's own (CSV, templates, recipient batches, bounces) are in campaign/limits.h.
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

// RFC 5321 4.5.3.2: SMTP client timeouts, written only here. ConnectionOptions, the job file's
// [delivery] and every shaping-rules destination start from them; the job file and the rules
// can lower or raise them.
inline constexpr std::uint32_t connect_timeout_ms = 30'000;
inline constexpr std::uint32_t greeting_timeout_ms = 300'000;  // 4.5.3.2.1: 5 minutes
inline constexpr std::uint32_t command_timeout_ms = 300'000;   // 4.5.3.2.2-3: MAIL, RCPT: 5 min
// One timeout covers DATA, the body and the final dot, so it is the longest of the three:
// 4.5.3.2.6, 10 minutes for the dot's reply (DATA's is 2 minutes, each body block's 3).
inline constexpr std::uint32_t data_timeout_ms = 600'000;
inline constexpr std::uint32_t idle_timeout_ms = 5'000;  // an idle pooled connection QUITs
static_assert(greeting_timeout_ms >= 300'000 && command_timeout_ms >= 300'000,
              "RFC 5321 4.5.3.2.1-3 minimum");
static_assert(data_timeout_ms >= 600'000, "RFC 5321 4.5.3.2.6 minimum");

// Shards and rings.
inline constexpr std::uint32_t shards_max = 256;
inline constexpr std::uint32_t ring_entries = 4096;            // SQ size per shard
inline constexpr std::uint32_t recv_buffer_bytes = 16384;      // one provided buffer
inline constexpr std::uint32_t recv_buffers_per_shard = 4096;  // power of two (buffer ring)
static_assert((recv_buffers_per_shard & (recv_buffers_per_shard - 1)) == 0);
static_assert(recv_buffer_bytes >= reply_line_bytes_max);

// Pipelining: MAIL + RCPTs + DATA in one write (RFC 2920).
inline constexpr std::uint32_t recipients_per_transaction_max = 100;  // RFC 5321 4.5.3.1.8

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

// `hayate bounces listen` (campaign/cli/bounces_listen.cc): the engine's server facing the
// Internet, where anyone may connect and bounces are small, so every abuse limit is on and
// strict (its command line can change each). hayate-sink leaves them off: a benchmark sink
// must not be the bottleneck. Beyond a connection cap the client gets 421 and is closed;
// beyond a deadline, 421 4.4.2 and closed.
inline constexpr std::uint32_t bounce_listen_message_bytes_max = 4u << 20;  // SIZE; bigger: 552
// Message content buffered by all sessions together; a message that would go beyond it gets
// 452 4.3.1 after its final dot, and its sender tries again later.
inline constexpr std::uint32_t bounce_listen_content_bytes_budget = 32u << 20;
inline constexpr std::uint32_t bounce_listen_connections_max = 128;
inline constexpr std::uint32_t bounce_listen_connections_per_ip_max = 16;
// Replies waiting for a client that does not read them: a few hundred is plenty.
inline constexpr std::uint32_t bounce_listen_output_bytes_max = 64u << 10;
inline constexpr std::uint32_t bounce_listen_session_timeout_ms = 600'000;  // accept to close
// From the end of one command to the end of the next: trickled bytes do not extend it.
inline constexpr std::uint32_t bounce_listen_command_timeout_ms = 60'000;
// From 354 to the final dot: at least 14 KB/s for a message of the maximum size.
inline constexpr std::uint32_t bounce_listen_data_timeout_ms = 300'000;
static_assert(bounce_listen_message_bytes_max <= bounce_listen_content_bytes_budget);
static_assert(bounce_listen_connections_per_ip_max <= bounce_listen_connections_max);
static_assert(bounce_listen_connections_max <= server_connections_per_thread_max);
static_assert(bounce_listen_data_timeout_ms <= bounce_listen_session_timeout_ms);
static_assert((server_recv_buffers & (server_recv_buffers - 1)) == 0, "buffer ring: power of 2");
static_assert(server_recv_buffers <= 32768, "buffer ids are 16 bits");

// DNS.
inline constexpr std::uint32_t dns_timeout_ms = 5'000;
inline constexpr std::uint32_t dns_tries = 3;
inline constexpr std::uint32_t mx_hosts_max = 16;  // more MX records are ignored
inline constexpr std::uint32_t addresses_per_host_max = 8;
inline constexpr std::uint32_t ptr_names_max = 8;            // more PTR records are ignored
inline constexpr std::uint32_t txt_records_max = 32;         // more TXT records are ignored
inline constexpr std::uint32_t txt_record_bytes_max = 8192;  // a longer record is cut there
inline constexpr std::uint32_t dns_negative_ttl_s = 300;     // cache of failures
inline constexpr std::uint32_t dns_ttl_max_s = 86'400;
// Lookups a shard has in flight at once; more wait their turn. Thousands of new domains at
// the start of a run would otherwise overflow the UDP receive buffers (the server's or ours)
// and lose answers.
inline constexpr std::uint32_t dns_lookups_in_flight_max = 128;

// A CA file (net/tls.h), read whole before OpenSSL parses it. Debian's whole system bundle
// (ca-certificates.crt) is about 220 KB.
inline constexpr std::uint32_t ca_file_bytes_max = 16 << 20;

// Output: a LineWriter (engine/line_writer.h) writes its buffer once it holds this much.
inline constexpr std::uint32_t line_writer_flush_bytes = 64 * 1024;

}  // namespace hayate::limits
