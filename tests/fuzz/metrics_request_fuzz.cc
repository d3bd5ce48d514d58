// libFuzzer target for the request parser of the /metrics endpoint (examine_http_request in
// engine/metrics_server.h): any bytes a client sends, judged whole and as the server reads
// them, in pieces of any size, stopping at the first verdict. The verdict must be one the
// server can answer, must not depend on how the bytes were split, and its response must be
// well formed. Input: byte 0 picks the request size cap, byte 1 seeds the read sizes, the rest
// is the request.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/assert.h"
#include "engine/metrics_server.h"

namespace {

constexpr std::size_t kRequestBytesMax[] = {1, 16, 64, 8192};

bool is_known_status(int status) {
  switch (status) {
    case 0:
    case 200:
    case 400:
    case 404:
    case 405:
    case 431:
    case 505:
      return true;
  }
  return false;
}

void check_response(int status, bool head) {
  const std::string body = "x 1\n";
  const std::string response = hayate::make_http_response(status, body, head);
  HAYATE_ASSERT(response.starts_with("HTTP/1.1 " + std::to_string(status) + " "));
  const std::size_t end = response.find("\r\n\r\n");
  HAYATE_ASSERT(end != std::string::npos);
  HAYATE_ASSERT(response.find("\r\nConnection: close\r\n") < end);
  const std::size_t length_at = response.find("\r\nContent-Length: ");
  HAYATE_ASSERT(length_at < end);
  const std::size_t length = std::stoul(response.substr(length_at + 18));
  const std::size_t body_bytes = response.size() - end - 4;
  HAYATE_ASSERT(head ? body_bytes == 0 : body_bytes == length);
  HAYATE_ASSERT(status != 200 || length == body.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t request_bytes_max = kRequestBytesMax[data[0] % std::size(kRequestBytesMax)];
  std::uint32_t read_seed = data[1];
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  const hayate::HttpVerdict whole = hayate::examine_http_request(input, request_bytes_max);
  HAYATE_ASSERT(is_known_status(whole.status));
  HAYATE_ASSERT(!whole.head || whole.status == 200);
  // Undecided means more could come: the cap is not reached yet.
  HAYATE_ASSERT(whole.status != 0 || input.size() < request_bytes_max);

  // As the server reads: at most the cap in all, a verdict after each read.
  std::string received;
  hayate::HttpVerdict verdict;
  std::size_t offset = 0;
  while (verdict.status == 0 && offset < input.size() && received.size() < request_bytes_max) {
    read_seed = read_seed * 1103515245u + 12345u;
    std::size_t length = 1 + (read_seed >> 16) % 64;
    length = std::min({length, input.size() - offset, request_bytes_max - received.size()});
    received.append(input.substr(offset, length));
    offset += length;
    verdict = hayate::examine_http_request(received, request_bytes_max);
    HAYATE_ASSERT(is_known_status(verdict.status));
  }
  // A request's fate does not depend on how TCP split it.
  if (verdict.status != 0) {
    HAYATE_ASSERT(verdict.status == whole.status && verdict.head == whole.head);
  } else {
    HAYATE_ASSERT(offset == input.size() && whole.status == 0);
  }
  if (whole.status != 0) check_response(whole.status, whole.head);
  return 0;
}
