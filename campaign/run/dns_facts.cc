// DnsFacts: answers by question, and the questions still without one.
#include "campaign/run/dns_facts.h"

#include <algorithm>
#include <utility>

#include "engine/strings.h"

namespace hayate::campaign::inline run {

std::string dns_question_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) c = lower(c);
  return out;
}

namespace {

template <typename Map>
const typename Map::mapped_type* find_answer(const Map& answers, const std::string& name) {
  const auto found = answers.find(name);
  return found == answers.end() ? nullptr : &found->second;
}

}  // namespace

const dns::TxtAnswer* DnsFacts::txt(std::string_view name) {
  std::string key = dns_question_name(name);
  const dns::TxtAnswer* answer = find_answer(txt_, key);
  if (answer == nullptr) note_missing(DnsQuestionType::txt, std::move(key));
  return answer;
}

const dns::HostAnswer* DnsFacts::host(std::string_view name) {
  std::string key = dns_question_name(name);
  const dns::HostAnswer* answer = find_answer(host_, key);
  if (answer == nullptr) note_missing(DnsQuestionType::host, std::move(key));
  return answer;
}

const dns::MxAnswer* DnsFacts::mx(std::string_view name) {
  std::string key = dns_question_name(name);
  const dns::MxAnswer* answer = find_answer(mx_, key);
  if (answer == nullptr) note_missing(DnsQuestionType::mx, std::move(key));
  return answer;
}

void DnsFacts::set_txt(std::string_view name, dns::TxtAnswer answer) {
  txt_.insert_or_assign(dns_question_name(name), std::move(answer));
}

void DnsFacts::set_host(std::string_view name, dns::HostAnswer answer) {
  host_.insert_or_assign(dns_question_name(name), std::move(answer));
}

void DnsFacts::set_mx(std::string_view name, dns::MxAnswer answer) {
  mx_.insert_or_assign(dns_question_name(name), std::move(answer));
}

void DnsFacts::set(const DnsQuestion& question, std::string_view error) {
  switch (question.type) {
    case DnsQuestionType::txt:
      return set_txt(question.name,
                     dns::TxtAnswer{dns::Outcome::temporary, {}, std::string(error)});
    case DnsQuestionType::host:
      return set_host(question.name,
                      dns::HostAnswer{dns::Outcome::temporary, {}, std::string(error)});
    case DnsQuestionType::mx:
      return set_mx(question.name,
                    dns::MxAnswer{dns::Outcome::temporary, {}, false, std::string(error)});
  }
}

void DnsFacts::note_missing(DnsQuestionType type, std::string name) {
  DnsQuestion question{type, std::move(name)};
  if (std::find(missing_.begin(), missing_.end(), question) == missing_.end()) {
    missing_.push_back(std::move(question));
  }
}

}  // namespace hayate::campaign::run
