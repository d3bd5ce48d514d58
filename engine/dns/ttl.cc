// Raw DNS message walk: header, questions, answer records, compressed names (RFC 1035 4.1).
// Every read is bounds-checked; hostile input yields truncated or malformed, never a crash.
#include "engine/dns/ttl.h"

#include <algorithm>

#include "engine/assert.h"
#include "engine/strings.h"

namespace hayate::dns {
namespace {

// RFC 1035 4.1.4: the two top bits of a length octet: 00 label, 11 pointer, 01/10 reserved
// (RFC 6891 retired the extended label types).
constexpr std::uint8_t label_kind_mask = 0xc0;
constexpr std::uint8_t label_kind_pointer = 0xc0;
constexpr std::size_t question_fixed_bytes = 4;  // QTYPE, QCLASS
constexpr std::size_t record_fixed_bytes = 10;   // TYPE, CLASS, TTL, RDLENGTH

std::uint16_t read_u16(std::span<const std::uint8_t> bytes, std::size_t offset) {
  return static_cast<std::uint16_t>((bytes[offset] << 8) | bytes[offset + 1]);
}

std::uint32_t read_u32(std::span<const std::uint8_t> bytes, std::size_t offset) {
  return (std::uint32_t{bytes[offset]} << 24) | (std::uint32_t{bytes[offset + 1]} << 16) |
         (std::uint32_t{bytes[offset + 2]} << 8) | std::uint32_t{bytes[offset + 3]};
}

}  // namespace

MessageParse read_name(std::span<const std::uint8_t> message, std::size_t offset, std::string* name,
                       std::size_t& next_offset) {
  if (name != nullptr) name->clear();
  std::size_t position = offset;
  std::size_t segment_start = offset;  // where the labels being read began (lowest so far)
  std::size_t wire_bytes = 0;  // the name as if uncompressed: labels with lengths, and the root
  bool jumped = false;
  // A pointer must land before every byte of the name read so far: a real one points at an
  // earlier name, anything else would make the name its own suffix. So no octet is visited
  // twice and the walk ends within the message size.
  for (std::size_t steps = 0;; ++steps) {
    HAYATE_ASSERT(steps <= message.size());
    if (position >= message.size()) return MessageParse::truncated;
    const std::uint8_t length = message[position];
    if ((length & label_kind_mask) == label_kind_pointer) {
      if (position + 1 >= message.size()) return MessageParse::truncated;
      const std::size_t target = read_u16(message, position) & 0x3fff;
      // A pointer into the header points at no name.
      if (target >= segment_start || target < dns_header_bytes) return MessageParse::malformed;
      if (!jumped) next_offset = position + 2;
      jumped = true;
      position = target;
      segment_start = target;
      continue;
    }
    if ((length & label_kind_mask) != 0) return MessageParse::malformed;
    wire_bytes += 1 + length;
    if (wire_bytes > dns_name_wire_bytes_max) return MessageParse::malformed;
    if (length == 0) {
      if (!jumped) next_offset = position + 1;
      return MessageParse::ok;
    }
    if (position + 1 + length > message.size()) return MessageParse::truncated;
    if (name != nullptr) {
      if (!name->empty()) name->push_back('.');
      for (std::size_t i = 0; i < length; ++i)
        name->push_back(lower(static_cast<char>(message[position + 1 + i])));
    }
    position += 1 + length;
  }
}

MessageParse parse_answer_ttl(std::span<const std::uint8_t> message, std::uint16_t rr_type,
                              AnswerTtl& out) {
  out = AnswerTtl{};
  if (message.size() < dns_header_bytes) return MessageParse::truncated;
  out.id = read_u16(message, 0);
  const std::uint16_t flags = read_u16(message, 2);
  out.truncated_flag = (flags & 0x0200) != 0;
  out.rcode = static_cast<std::uint8_t>(flags & 0x000f);
  out.question_count = read_u16(message, 4);
  out.answer_count = read_u16(message, 6);

  std::size_t offset = dns_header_bytes;
  for (std::uint32_t i = 0; i < out.question_count; ++i) {
    std::size_t next = 0;
    const MessageParse name_result =
        read_name(message, offset, i == 0 ? &out.question_name : nullptr, next);
    if (name_result != MessageParse::ok) return name_result;
    if (next + question_fixed_bytes > message.size()) return MessageParse::truncated;
    if (i == 0) out.question_type = read_u16(message, next);
    offset = next + question_fixed_bytes;
  }

  bool any_matched = false;
  for (std::uint32_t i = 0; i < out.answer_count; ++i) {
    std::size_t next = 0;
    const MessageParse name_result = read_name(message, offset, nullptr, next);
    if (name_result != MessageParse::ok) return name_result;
    if (next + record_fixed_bytes > message.size()) return MessageParse::truncated;
    const std::uint16_t type = read_u16(message, next);
    const std::uint16_t rr_class = read_u16(message, next + 2);
    std::uint32_t ttl_s = read_u32(message, next + 4);
    if (ttl_s > dns_ttl_max_valid_s) ttl_s = 0;  // RFC 2181 8
    const std::size_t rdata_bytes = read_u16(message, next + 8);
    offset = next + record_fixed_bytes + rdata_bytes;
    if (offset > message.size()) return MessageParse::truncated;
    if (rr_class != rr_class_in || (type != rr_type && type != rr_type_cname)) continue;
    out.ttl_min_s = any_matched ? std::min(out.ttl_min_s, ttl_s) : ttl_s;
    any_matched = true;
    ++out.records_matched;
  }
  HAYATE_ASSERT(out.records_matched <= out.answer_count);
  HAYATE_ASSERT(offset <= message.size());
  return MessageParse::ok;
}

}  // namespace hayate::dns
