// The FCrDNS check of `hayate check`: who to check (fcrdns_subjects), the lookups on a one-off
// shard (look_up_fcrdns) and the verdict (judge_fcrdns), printed by check_fcrdns.
#include "campaign/run/fcrdns.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string_view>
#include <utility>

#include "campaign/run/exit_codes.h"
#include "engine/assert.h"
#include "engine/dns/ring_socket_watcher.h"
#include "engine/shard.h"
#include "engine/strings.h"

namespace hayate::campaign::inline run {
namespace {

// RFC 5321 4.1.3: "[192.0.2.1]" or "[IPv6:2001:db8::1]"; the address inside, or "" when
// `ehlo` is a host name.
std::string_view literal_ip(std::string_view ehlo) {
  if (ehlo.size() < 3 || ehlo.front() != '[' || ehlo.back() != ']') return {};
  std::string_view inner = ehlo.substr(1, ehlo.size() - 2);
  if (inner.size() > 5 && equals_ignoring_case(inner.substr(0, 5), "IPv6:")) inner.remove_prefix(5);
  return inner;
}

// The address as inet_ntop writes it, so that two spellings of one address compare equal;
// the text itself when it is no address (judge_fcrdns takes any input).
std::string canonical_ip(std::string_view text) {
  dns::SocketAddress address;
  if (!dns::SocketAddress::parse(text, 0, address)) return std::string(text);
  return address.ip_string();
}

std::string without_final_dot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return std::string(name);
}

std::string ip_list(const std::vector<dns::SocketAddress>& addresses) {
  std::string out;
  for (const dns::SocketAddress& address : addresses) {
    append(out, out.empty() ? "" : ", ", address.ip_string());
  }
  return out;
}

std::string name_list(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) append(out, out.empty() ? "" : ", ", name);
  return out;
}

}  // namespace

std::vector<FcrdnsSubject> fcrdns_subjects(const JobConfig& job) {
  std::vector<FcrdnsSubject> subjects;
  for (const JobConfig::Source& source : job.sources) {
    subjects.push_back(
        FcrdnsSubject{cat("[[sources]] ", source.name), source.ehlo, source.address});
  }
  if (!subjects.empty()) return subjects;
  const bool everything_routed = std::any_of(
      job.routes.begin(), job.routes.end(), [](const Route& route) { return route.domain == "*"; });
  if (everything_routed || !literal_ip(job.helo).empty()) return subjects;
  subjects.push_back(FcrdnsSubject{"[delivery] helo", job.helo, ""});
  return subjects;
}

std::vector<FcrdnsFinding> judge_fcrdns(const FcrdnsSubject& subject,
                                        const FcrdnsAnswers& answers) {
  std::vector<FcrdnsFinding> findings;
  const auto add = [&findings](FcrdnsLevel level, std::string text) {
    findings.push_back(FcrdnsFinding{level, std::move(text)});
  };
  const std::string_view literal = literal_ip(subject.ehlo);
  const std::string ehlo_name = without_final_dot(subject.ehlo);
  const bool has_address = !subject.address.empty();
  const std::string source_ip = has_address ? canonical_ip(subject.address) : std::string();

  // Forward: the EHLO name must lead to the source address.
  if (!literal.empty()) {
    if (has_address && canonical_ip(literal) != source_ip) {
      add(FcrdnsLevel::warning,
          cat("ehlo ", subject.ehlo, " is not the source address ", subject.address));
    }
  } else if (!answers.forward.has_value()) {
    add(FcrdnsLevel::unknown, cat("ehlo name ", subject.ehlo, " was not looked up"));
  } else {
    const dns::HostAnswer& forward = *answers.forward;
    if (forward.outcome == dns::Outcome::temporary) {
      add(FcrdnsLevel::unknown,
          cat("could not look up ehlo name ", subject.ehlo, ": ", forward.error));
    } else if (forward.outcome != dns::Outcome::ok || forward.addresses.empty()) {
      add(FcrdnsLevel::warning, cat("ehlo name ", subject.ehlo, " does not resolve (",
                                    forward.error.empty() ? "no address" : forward.error, ")"));
    } else if (has_address && std::none_of(forward.addresses.begin(), forward.addresses.end(),
                                           [&](const dns::SocketAddress& address) {
                                             return address.ip_string() == source_ip;
                                           })) {
      add(FcrdnsLevel::warning,
          cat("ehlo name ", subject.ehlo, " resolves to ", ip_list(forward.addresses),
              ", not to the source address ", subject.address));
    }
  }

  // Reverse: the source address's PTR must name the EHLO name back.
  std::string ptr_names;
  if (has_address) {
    if (!answers.reverse.has_value()) {
      add(FcrdnsLevel::unknown, cat("the PTR of ", subject.address, " was not looked up"));
    } else {
      const dns::PtrAnswer& reverse = *answers.reverse;
      ptr_names = name_list(reverse.names);
      if (reverse.outcome == dns::Outcome::temporary) {
        add(FcrdnsLevel::unknown,
            cat("could not look up the PTR of ", subject.address, ": ", reverse.error));
      } else if (reverse.outcome != dns::Outcome::ok || reverse.names.empty()) {
        add(FcrdnsLevel::warning, cat(subject.address, " has no PTR record"));
      } else if (literal.empty() && std::none_of(reverse.names.begin(), reverse.names.end(),
                                                 [&](const std::string& name) {
                                                   return !ehlo_name.empty() &&
                                                          equals_ignoring_case(name, ehlo_name);
                                                 })) {
        add(FcrdnsLevel::warning, cat("PTR of ", subject.address, " is ", ptr_names,
                                      ", not the ehlo name ", subject.ehlo));
      }
    }
  }

  if (!findings.empty()) return findings;
  if (!literal.empty()) {
    add(FcrdnsLevel::ok,
        has_address ? cat("ehlo ", subject.ehlo, " is the source address; its PTR is ", ptr_names)
                    : cat("ehlo ", subject.ehlo, " is an address literal: nothing to look up"));
  } else if (has_address) {
    add(FcrdnsLevel::ok,
        cat("forward-confirmed: ehlo name ", subject.ehlo, " resolves to ", subject.address,
            " and the PTR of ", subject.address, " is ", ehlo_name));
  } else {
    HAYATE_ASSERT(answers.forward.has_value());  // else a finding says it was not looked up
    add(FcrdnsLevel::ok,
        cat("ehlo name ", subject.ehlo, " resolves to ", ip_list(answers.forward->addresses),
            "; mail leaves from the address the system picks, which should be "
            "one of these, with a PTR naming ",
            ehlo_name));
  }
  HAYATE_ASSERT(findings.size() == 1);
  return findings;
}

// ---------------------------------------------------------------------------------------------
// The lookups, on a shard of their own

namespace {

// Issues every lookup at start, counts the answers, and ends when all are in or at the
// deadline, closing the resolver first so that the shard reaps its cancelled polls as it ends.
class LookupHandler final : public ShardHandler {
 public:
  LookupHandler(Shard& shard, const std::vector<FcrdnsSubject>& subjects,
                dns::ResolverOptions options, std::int64_t timeout_ms,
                std::vector<FcrdnsAnswers>& answers)
      : subjects_(subjects),
        options_(std::move(options)),
        timeout_ms_(timeout_ms),
        answers_(answers),
        watcher_(shard) {}

  const std::string& error() const { return error_; }

  void on_start(Shard& shard) override {
    deadline_ms_ = shard.now_ms() + timeout_ms_;
    resolver_ = dns::Resolver::create(options_, watcher_, error_);
    if (resolver_ == nullptr) return;
    watcher_.set_resolver(resolver_.get());
    HAYATE_ASSERT(answers_.size() == subjects_.size());
    for (std::size_t i = 0; i < subjects_.size(); ++i) {
      const FcrdnsSubject& subject = subjects_[i];
      FcrdnsAnswers& answers = answers_[i];
      if (literal_ip(subject.ehlo).empty()) {
        answers.forward = dns::HostAnswer{dns::Outcome::temporary, {}, "timeout"};
        ++pending_;
        resolver_->resolve_host(subject.ehlo, 0, [this, &answers](const dns::HostAnswer& answer) {
          answers.forward = answer;
          --pending_;
        });
      }
      dns::SocketAddress address;
      if (!subject.address.empty() && dns::SocketAddress::parse(subject.address, 0, address)) {
        answers.reverse = dns::PtrAnswer{dns::Outcome::temporary, {}, "timeout"};
        ++pending_;
        resolver_->resolve_ptr(address, [this, &answers](const dns::PtrAnswer& answer) {
          answers.reverse = answer;
          --pending_;
        });
      }
    }
  }

  void on_wake(Shard&) override {}

  // Cheap when nothing is due; handles timeouts and answers queued by cache or failures.
  void on_tick(Shard&) override {
    if (resolver_ != nullptr) resolver_->on_tick();
  }

  std::int64_t next_wakeup_ms(Shard& shard) override {
    const std::int64_t remaining_ms = std::max<std::int64_t>(0, deadline_ms_ - shard.now_ms());
    const std::int64_t dns_ms = resolver_ != nullptr ? resolver_->next_timeout_ms() : -1;
    return dns_ms >= 0 ? std::min(dns_ms, remaining_ms) : remaining_ms;
  }

  bool finished(Shard& shard) override {
    if (resolver_ == nullptr) return true;
    if (pending_ > 0 && shard.now_ms() < deadline_ms_) return false;
    watcher_.set_resolver(nullptr);
    resolver_.reset();  // drops the callbacks of lookups still in flight
    return true;
  }

 private:
  const std::vector<FcrdnsSubject>& subjects_;
  const dns::ResolverOptions options_;
  const std::int64_t timeout_ms_;
  std::vector<FcrdnsAnswers>& answers_;
  dns::RingSocketWatcher watcher_;  // declared before the resolver, which calls it as it dies
  std::unique_ptr<dns::Resolver> resolver_;
  std::string error_;
  std::int64_t deadline_ms_ = 0;
  std::size_t pending_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<FcrdnsAnswers>> look_up_fcrdns(
    const std::vector<FcrdnsSubject>& subjects, const std::vector<dns::SocketAddress>& servers,
    std::uint32_t timeout_ms) {
  std::vector<FcrdnsAnswers> answers(subjects.size());
  if (subjects.empty()) return answers;
  Shard shard(0);
  if (absl::Status status = shard.init(); !status.ok()) return status;
  dns::ResolverOptions options;
  options.servers = servers;
  // Three tries of 1 s, 2 s and 4 s (c-ares doubles each round): the deadline cuts the last.
  options.timeout_ms = std::min<std::uint32_t>(timeout_ms, 1'000);
  options.tries = 3;
  LookupHandler handler(shard, subjects, std::move(options), timeout_ms, answers);
  shard.run(handler);
  if (!handler.error().empty()) return absl::UnavailableError(handler.error());
  return answers;
}

int check_fcrdns(const JobConfig& job, bool strict) {
  const std::vector<FcrdnsSubject> subjects = fcrdns_subjects(job);
  if (subjects.empty()) return exit_code::ok;
  std::vector<dns::SocketAddress> servers;
  for (const Endpoint& server : job.dns_servers) {
    dns::SocketAddress address;
    const bool parsed = dns::SocketAddress::parse(server.host, server.port, address);
    HAYATE_ASSERT(parsed);  // the job loader takes IP literals only in [dns] servers
    servers.push_back(address);
  }
  absl::StatusOr<std::vector<FcrdnsAnswers>> answers =
      look_up_fcrdns(subjects, servers, fcrdns_check_timeout_ms);
  if (!answers.ok()) {
    std::fprintf(stderr, "hayate: warning: could not check the ehlo names in DNS: %s\n",
                 std::string(answers.status().message()).c_str());
    return strict ? exit_code::temporary : exit_code::ok;
  }
  bool any_warning = false;
  bool any_unknown = false;
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    for (const FcrdnsFinding& finding : judge_fcrdns(subjects[i], (*answers)[i])) {
      if (finding.level == FcrdnsLevel::ok) {
        std::printf("%s: %s\n", subjects[i].label.c_str(), finding.text.c_str());
        continue;
      }
      any_warning = any_warning || finding.level == FcrdnsLevel::warning;
      any_unknown = any_unknown || finding.level == FcrdnsLevel::unknown;
      std::fprintf(stderr, "hayate: warning: %s: %s\n", subjects[i].label.c_str(),
                   finding.text.c_str());
    }
  }
  if (!strict) return exit_code::ok;
  if (any_warning) return exit_code::data_error;
  return any_unknown ? exit_code::temporary : exit_code::ok;
}

}  // namespace hayate::campaign::run
