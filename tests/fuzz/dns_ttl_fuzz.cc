// libFuzzer target for engine/dns/ttl: any bytes as a DNS answer. The walk must end, stay in
// bounds, and report only what the message can hold.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "engine/assert.h"
#include "engine/dns/ttl.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hayate::dns;
  const std::span<const std::uint8_t> message(data, size);
  for (std::uint16_t type : {rr_type_mx, rr_type_a, rr_type_aaaa}) {
    AnswerTtl ttl;
    if (parse_answer_ttl(message, type, ttl) != MessageParse::ok) continue;
    HAYATE_ASSERT(ttl.records_matched <= ttl.answer_count);
    HAYATE_ASSERT(ttl.ttl_min_s <= dns_ttl_max_valid_s);
    HAYATE_ASSERT(ttl.question_name.size() < dns_name_wire_bytes_max);
    HAYATE_ASSERT(ttl.records_matched > 0 || ttl.ttl_min_s == 0);
  }
  // Every offset as the start of a name: a name never reads past the end nor loops.
  for (std::size_t offset = 0; offset < size && offset < 512; ++offset) {
    std::string name;
    std::size_t next = 0;
    if (read_name(message, offset, &name, next) != MessageParse::ok) continue;
    HAYATE_ASSERT(next > offset && next <= size);
    HAYATE_ASSERT(name.size() < dns_name_wire_bytes_max);
  }
  return 0;
}
