// Every capacity and size of the mail campaign (inputs, recipient batches, bounces), in one
// place, checked at compile time. The engine's own (SMTP, DNS, rings) stay in engine/limits.h;
// they are reachable here too, so campaign code writes limits::x for either.
#pragma once

#include <cstdint>

#include "engine/limits.h"

namespace hayate::campaign::limits {

// Inside hayate::campaign, `limits::` names this namespace and hides hayate::limits: bring the
// engine's limits in so that limits::domain_bytes_max still reads as it does in the engine.
using namespace hayate::limits;

// Campaign inputs.
inline constexpr std::uint32_t csv_row_bytes_max = 1 << 20;  // a longer row is rejected
inline constexpr std::uint32_t csv_columns_max = 1024;
inline constexpr std::uint32_t template_bytes_max = 16 << 20;
inline constexpr std::uint32_t campaign_id_bytes_max = 64;
static_assert(csv_row_bytes_max >= address_bytes_max, "a row must hold at least an address");

// Work handed to a shard: recipients travel in batches through a bounded queue. When the
// queue is full the reader waits, so memory stays bounded whatever the size of the list.
inline constexpr std::uint32_t recipients_per_batch = 256;
inline constexpr std::uint32_t batches_per_shard_queue = 64;
inline constexpr std::uint32_t recipients_pending_max = 200'000;  // across all shards
// The reader waits while more than recipients_pending_max are pending, and hands a batch over
// only once it is full: the unfinished batches of all shards together must stay below the cap,
// or the reader could wait for recipients that no shard has been given.
static_assert(recipients_pending_max > shards_max * recipients_per_batch);

// Bounce messages (campaign/bounce/report_parser.h): a hostile or broken message is read up
// to these caps and no further; what lies beyond them is ignored, never an error.
inline constexpr std::uint32_t bounce_message_bytes_max = 16 << 20;   // read of one message
inline constexpr std::uint32_t bounce_header_bytes_max = 256 * 1024;  // one header block
inline constexpr std::uint32_t bounce_header_fields_max = 1024;       // per header block
inline constexpr std::uint32_t bounce_mime_depth_max = 8;    // nested multiparts and messages
inline constexpr std::uint32_t bounce_mime_parts_max = 256;  // parts of one message, in all
inline constexpr std::uint32_t bounce_decoded_bytes_max = 16 << 20;  // base64/QP output, in all
inline constexpr std::uint32_t bounce_findings_max = 1024;         // failed recipients per message
inline constexpr std::uint32_t bounce_text_bytes_max = 64 * 1024;  // report text searched
static_assert(bounce_header_bytes_max <= bounce_message_bytes_max);
static_assert(bounce_text_bytes_max <= bounce_decoded_bytes_max);
// Bounces a shard keeps for the suppression list until its run ends
// (campaign/bounce/recording.h): about 80 bytes each; past this the run reads them back from
// deliveries.jsonl instead.
inline constexpr std::uint32_t bounce_events_held_max = 100'000;

}  // namespace hayate::campaign::limits
