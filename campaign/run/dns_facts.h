// The DNS answers a check of `hayate check` rests on, as a store that its pure judges read:
// DnsLookups is what a judge (SPF evaluation, the pre-flight) asks through, so that a test can
// answer it from a table; DnsFacts holds the answers found so far and notes each question
// asked that has none yet, for the caller to look up before judging again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/dns/resolver.h"

namespace hayate::campaign::inline run {

// The questions a judge may ask. Every answer is nullptr while it is not known yet.
class DnsLookups {
 public:
  virtual ~DnsLookups() = default;
  virtual const dns::TxtAnswer* txt(std::string_view name) = 0;
  virtual const dns::HostAnswer* host(std::string_view name) = 0;  // A and AAAA
  virtual const dns::MxAnswer* mx(std::string_view name) = 0;      // with each host's addresses
};

enum class DnsQuestionType : std::uint8_t { txt, host, mx };

struct DnsQuestion {
  DnsQuestionType type = DnsQuestionType::txt;
  std::string name;  // lower case, no final dot
  bool operator==(const DnsQuestion&) const = default;
};

// Lower case without a final dot: the form questions are filed under.
std::string dns_question_name(std::string_view name);

class DnsFacts final : public DnsLookups {
 public:
  const dns::TxtAnswer* txt(std::string_view name) override;
  const dns::HostAnswer* host(std::string_view name) override;
  const dns::MxAnswer* mx(std::string_view name) override;

  void set_txt(std::string_view name, dns::TxtAnswer answer);
  void set_host(std::string_view name, dns::HostAnswer answer);
  void set_mx(std::string_view name, dns::MxAnswer answer);
  void set(const DnsQuestion& question, std::string_view error);  // a temporary failure

  // The questions asked without an answer since the last clear_missing(), each once, in the
  // order they were first asked.
  const std::vector<DnsQuestion>& missing() const { return missing_; }
  void clear_missing() { missing_.clear(); }

 private:
  void note_missing(DnsQuestionType type, std::string name);

  absl::flat_hash_map<std::string, dns::TxtAnswer> txt_;
  absl::flat_hash_map<std::string, dns::HostAnswer> host_;
  absl::flat_hash_map<std::string, dns::MxAnswer> mx_;
  std::vector<DnsQuestion> missing_;
};

}  // namespace hayate::campaign::run
