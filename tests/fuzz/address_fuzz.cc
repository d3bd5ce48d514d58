// libFuzzer target for campaign/address: parse_address and parse_mailbox on any bytes. Must
// not crash, and an accepted address must be normalized: within the RFC 5321 limits, free of
// CR/LF/NUL, a lower-case LDH domain, and parsing its text again gives the same address.
#include <cstdint>
#include <string>
#include <string_view>

#include "campaign/input/address.h"
#include "engine/assert.h"
#include "engine/limits.h"

namespace {

void check_normalized(const hayate::campaign::Address& address) {
  using hayate::campaign::Address;
  namespace limits = hayate::limits;
  HAYATE_ASSERT(address.text.size() <= limits::address_bytes_max);
  HAYATE_ASSERT(address.at > 0 && address.at < address.text.size());
  HAYATE_ASSERT(address.text[address.at] == '@');
  HAYATE_ASSERT(address.local().size() <= limits::local_part_bytes_max);
  HAYATE_ASSERT(address.text.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  bool non_ascii = false;
  for (char c : address.local()) non_ascii |= static_cast<unsigned char>(c) >= 0x80;
  HAYATE_ASSERT(non_ascii == address.needs_smtputf8);
  const std::string_view domain = address.domain();
  HAYATE_ASSERT(!domain.empty() && domain.size() <= limits::domain_bytes_max);
  HAYATE_ASSERT(domain.find('.') != std::string_view::npos);
  for (char c : domain) {
    HAYATE_ASSERT((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
  }
  Address again;
  std::string error;
  HAYATE_ASSERT(hayate::campaign::parse_address(address.text, again, error));
  HAYATE_ASSERT(again.text == address.text && again.at == address.at);
  HAYATE_ASSERT(again.needs_smtputf8 == address.needs_smtputf8);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  hayate::campaign::Address address;
  std::string error;
  if (hayate::campaign::parse_address(input, address, error)) {
    check_normalized(address);
  } else {
    HAYATE_ASSERT(!error.empty());
  }
  std::string display_name;
  if (hayate::campaign::parse_mailbox(input, display_name, address, error)) {
    check_normalized(address);
    HAYATE_ASSERT(display_name.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  } else {
    HAYATE_ASSERT(!error.empty());
  }
  return 0;
}
