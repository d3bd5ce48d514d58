// libFuzzer target for campaign/dkim: header splitting, relaxed and simple canonicalization, and
// signing, on any bytes taken as a message. Must not crash; relaxed canonicalization must be
// idempotent and equal a line-by-line reading of RFC 6376 3.4.4; signing must produce one
// well-formed DKIM-Signature header whatever the message holds.
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "campaign/message/dkim.h"
#include "engine/assert.h"

namespace {

using hayate::campaign::HeaderField;

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// RFC 6376 3.4.4 read line by line (a last line without CRLF counts as a line).
std::string reference_relaxed_body(std::string_view body) {
  std::vector<std::string> lines;
  std::size_t position = 0;
  for (;;) {
    const std::size_t crlf = body.find("\r\n", position);
    const std::size_t end = crlf == std::string_view::npos ? body.size() : crlf;
    if (crlf != std::string_view::npos || position < body.size()) {
      std::string line;
      for (char c : body.substr(position, end - position)) {
        if (is_wsp(c) && !line.empty() && line.back() == ' ') continue;
        line += is_wsp(c) ? ' ' : c;
      }
      if (!line.empty() && line.back() == ' ') line.pop_back();
      lines.push_back(line);
    }
    if (crlf == std::string_view::npos) break;
    position = crlf + 2;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::string out;
  for (const std::string& line : lines) out += line + "\r\n";
  return out;
}

void check_relaxed_header(std::string_view field) {
  std::string once;
  hayate::campaign::append_relaxed_header(field, once);
  const std::size_t colon = once.find(':');
  HAYATE_ASSERT(colon != std::string::npos);
  HAYATE_ASSERT(once.find("\r\n") == std::string::npos);
  const std::string_view value = std::string_view(once).substr(colon + 1);
  HAYATE_ASSERT(value.find('\t') == std::string_view::npos);
  HAYATE_ASSERT(value.find("  ") == std::string_view::npos);
  HAYATE_ASSERT(value.empty() || (value.front() != ' ' && value.back() != ' '));
  for (std::size_t i = 0; i < colon; ++i) HAYATE_ASSERT(once[i] < 'A' || once[i] > 'Z');
  std::string twice;
  hayate::campaign::append_relaxed_header(once, twice);
  HAYATE_ASSERT(twice == once);
}

void check_bodies(std::string_view body) {
  std::string relaxed;
  hayate::campaign::append_relaxed_body(body, relaxed);
  HAYATE_ASSERT(relaxed == reference_relaxed_body(body));
  HAYATE_ASSERT(relaxed.empty() || relaxed.ends_with("\r\n"));
  HAYATE_ASSERT(!relaxed.ends_with("\r\n\r\n") && relaxed != "\r\n");
  HAYATE_ASSERT(relaxed.find(" \r\n") == std::string::npos);
  std::string again;
  hayate::campaign::append_relaxed_body(relaxed, again);
  HAYATE_ASSERT(again == relaxed);

  std::string simple;
  hayate::campaign::append_simple_body(body, simple);
  HAYATE_ASSERT(simple.ends_with("\r\n"));
  HAYATE_ASSERT(simple == "\r\n" || !simple.ends_with("\r\n\r\n"));
  HAYATE_ASSERT(body.starts_with(std::string_view(simple).substr(0, simple.size() - 2)));
  std::string simple_again;
  hayate::campaign::append_simple_body(simple, simple_again);
  HAYATE_ASSERT(simple_again == simple);
}

// An Ed25519 key made once (signing is the cheap algorithm, so the fuzzer stays fast).
std::shared_ptr<const hayate::campaign::DkimSigner> make_signer() {
  std::string directory = (std::filesystem::temp_directory_path() / "dkim_fuzz.XXXXXX").string();
  HAYATE_ASSERT(mkdtemp(directory.data()) != nullptr);
  const std::string path = directory + "/ed25519.pem";
  std::string record;
  HAYATE_ASSERT(hayate::campaign::generate_dkim_key(hayate::campaign::DkimAlgorithm::ed25519_sha256,
                                                    0, "example.com", "fuzz", path, record)
                    .ok());
  hayate::campaign::DkimConfig config;
  config.domain = "example.com";
  config.selector = "fuzz";
  config.key_path = path;
  config.headers.push_back("X-Repeated");
  auto signer = hayate::campaign::DkimSigner::load(config);
  std::filesystem::remove_all(directory);
  HAYATE_ASSERT(signer.ok());
  return *signer;
}

void check_signature(std::string_view message) {
  static const std::shared_ptr<const hayate::campaign::DkimSigner> signer = make_signer();
  static hayate::campaign::DkimContext context;
  std::string out;
  const std::shared_ptr<const hayate::campaign::DkimSigner> signers[] = {signer};
  context.sign(signers, message, 1795446601, out);
  HAYATE_ASSERT(out.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;"));
  HAYATE_ASSERT(out.ends_with("\r\n"));
  std::vector<HeaderField> fields;
  HAYATE_ASSERT(hayate::campaign::split_header_fields(out, fields) == out.size());
  HAYATE_ASSERT(fields.size() == 1);  // one field, folded
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view message(reinterpret_cast<const char*>(data), size);
  std::vector<HeaderField> fields;
  const std::size_t body_offset = hayate::campaign::split_header_fields(message, fields);
  HAYATE_ASSERT(body_offset <= message.size());
  std::size_t covered = 0;
  for (const HeaderField& field : fields) {
    HAYATE_ASSERT(!field.field.empty());
    HAYATE_ASSERT(field.field.data() == message.data() + covered);  // in order, no gap
    HAYATE_ASSERT(field.name.empty() || field.field.starts_with(field.name));
    covered += field.field.size();
    check_relaxed_header(field.field);
  }
  HAYATE_ASSERT(covered == body_offset || covered + 2 == body_offset);
  check_bodies(message.substr(body_offset));
  check_bodies(message);
  check_signature(message);
  return 0;
}
