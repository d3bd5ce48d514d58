// A pure, bounds-checked walk over a raw DNS message (RFC 1035 4.1): header, question and
// answer records, with name compression. The resolver uses it for what c-ares 1.18 does not
// report (the TTL of MX records); tests use it to read queries. No I/O, no allocation but names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace hayate::dns {

// RFC 1035 3.2.2 / RFC 3596 2.1: the record types and class the resolver asks for.
inline constexpr std::uint16_t rr_type_a = 1;
inline constexpr std::uint16_t rr_type_cname = 5;
inline constexpr std::uint16_t rr_type_mx = 15;
inline constexpr std::uint16_t rr_type_aaaa = 28;
inline constexpr std::uint16_t rr_class_in = 1;

// RFC 1035 4.1.1: the fixed header; RFC 1035 3.1: a name is at most 255 octets on the wire.
inline constexpr std::size_t dns_header_bytes = 12;
inline constexpr std::size_t dns_name_wire_bytes_max = 255;
// RFC 2181 8: a TTL with the most significant bit set is read as zero.
inline constexpr std::uint32_t dns_ttl_max_valid_s = 0x7fff'ffff;

enum class MessageParse : std::uint8_t {
  ok,
  truncated,  // the message ends inside a field, or counts promise more than it holds
  malformed,  // a compression loop or forward pointer, a reserved label type, a name > 255
};

struct AnswerTtl {
  std::uint16_t id = 0;
  std::uint8_t rcode = 0;       // RFC 1035 4.1.1: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN...
  bool truncated_flag = false;  // TC: the sender cut the message (retry over TCP)
  std::uint16_t question_count = 0;
  std::uint16_t answer_count = 0;
  std::string question_name;  // the first question ("" when there is none)
  std::uint16_t question_type = 0;
  std::uint16_t records_matched = 0;  // answer RRs of class IN, of the asked type or CNAME
  std::uint32_t ttl_min_s = 0;        // minimum TTL over the matched records; 0 when none
};

// Reads the header, the questions and the answer section of `message`. Records of class IN
// whose type is `rr_type` or CNAME (a chain to them: the answer lives as long as its shortest
// link) count towards `ttl_min_s`. Authority and additional sections are not read.
MessageParse parse_answer_ttl(std::span<const std::uint8_t> message, std::uint16_t rr_type,
                              AnswerTtl& out);

// RFC 1035 4.1.4: reads the possibly compressed name at `offset`. Pointers must point
// backwards, past the header, so no loop can exist. `name` (when not null) receives the labels
// in ASCII lower case joined by '.', "" for the root; `next_offset` is where the bytes of the
// name at `offset` end (after its first pointer, if any).
MessageParse read_name(std::span<const std::uint8_t> message, std::size_t offset, std::string* name,
                       std::size_t& next_offset);

}  // namespace hayate::dns
