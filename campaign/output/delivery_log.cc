// JSON Lines writer for attempt outcomes.
#include "campaign/output/delivery_log.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "engine/utf8.h"

namespace hayate::campaign::inline output {

void append_json_escaped(std::string_view text, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      out.append("\\u00");
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (std::size_t length = hayate::utf8_sequence_length(text, i); length > 0) {
      out.append(text.substr(i, length));
      i += length - 1;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
    }
  }
}

namespace {

// `key_and_quote` (`,"name":"`), `value` escaped and the closing quote; nothing when `value` is
// empty: a key the attempt cannot fill is left out, so lines stay small.
void append_optional_string(std::string_view key_and_quote, std::string_view value,
                            std::string& out) {
  if (value.empty()) return;
  out.append(key_and_quote);
  append_json_escaped(value, out);
  out.push_back('"');
}

}  // namespace

void DeliveryLog::append(const OutcomeRecord& record) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  char time_text[64];
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  std::snprintf(time_text, sizeof(time_text), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, now.tv_nsec / 1'000'000);
  std::string& out = writer_.buffer();
  absl::StrAppend(&out, "{\"time\":\"", time_text, "\",\"type\":\"", outcome_type_name(record.type),
                  "\",\"recipient\":\"");
  append_json_escaped(record.recipient, out);
  out.append("\",\"domain\":\"");
  append_json_escaped(record.domain, out);
  out.push_back('"');
  append_optional_string(",\"envelope_from\":\"", record.envelope_from, out);
  append_optional_string(",\"message_id\":\"", record.message_id, out);
  if (record.size_bytes > 0) absl::StrAppend(&out, ",\"size\":", record.size_bytes);
  out.append(",\"mx\":\"");
  append_json_escaped(record.mx, out);
  out.push_back('"');
  append_optional_string(",\"source_ip\":\"", record.source_ip, out);
  append_optional_string(",\"tls_version\":\"", record.tls_version, out);
  append_optional_string(",\"tls_cipher\":\"", record.tls_cipher, out);
  absl::StrAppend(&out, ",\"code\":", record.code, ",\"enhanced\":\"");
  smtp::append_enhanced_code(record.enhanced, out);
  out.append("\",\"reply\":\"");
  append_json_escaped(record.reply, out);
  out.append("\",\"stage\":\"").append(stage_name(record.stage)).append("\"");
  if (record.classified) {
    out.append(",\"reason\":\"").append(bounce::to_string(record.reason));
    out.append(record.hard ? "\",\"hard\":true" : "\",\"hard\":false");
  }
  if (record.possible_duplicate) out.append(",\"possible_duplicate\":true");
  absl::StrAppend(&out, ",\"attempt\":", record.attempt, ",\"latency_ms\":");
  if (record.latency_ms >= 0) {
    absl::StrAppend(&out, record.latency_ms);
  } else {
    out.append("null");
  }
  absl::StrAppend(&out, ",\"line\":", record.line, ",\"final\":", record.final ? "true" : "false",
                  "}\n");
  writer_.flush_if_full();
}

}  // namespace hayate::campaign::output
