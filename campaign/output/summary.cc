// summary.json rendering (see summary.h).
#include "campaign/output/summary.h"

#include "absl/strings/str_format.h"
#include "campaign/output/delivery_log.h"
#include "engine/strings.h"

namespace hayate::campaign::inline output {

namespace {

// "shaping": one object per destination that was throttled or suspended during the run.
std::string render_shaping(const std::vector<ShapingCounts>& views) {
  std::string out = "[";
  for (std::size_t i = 0; i < views.size(); ++i) {
    const ShapingCounts& view = views[i];
    append(out, i == 0 ? "\n    " : ",\n    ", "{\"destination\": \"");
    append_json_escaped(view.destination, out);
    append(out, "\", \"state\": \"", view.state, "\", \"throttles\": ", view.throttles,
           ", \"suspensions\": ", view.suspensions, ", \"recoveries\": ", view.recoveries, "}");
  }
  append(out, views.empty() ? "]" : "\n  ]");
  return out;
}

// A JSON string, or null for an empty path.
std::string render_path(const std::string& path) {
  if (path.empty()) return "null";
  std::string out = "\"";
  append_json_escaped(path, out);
  out += '"';
  return out;
}

}  // namespace

std::string render_summary(const RunSummary& summary) {
  return absl::StrFormat(
      "{\n  \"campaign\": \"%s\",\n  \"rows\": %d,\n  \"recipients\": %d,\n"
      "  \"delivered\": %d,\n  \"bounced\": %d,\n  \"bounce_reasons\": %s,\n"
      "  \"deferred\": %d,\n  \"rejected\": %d,\n"
      "  \"suppressed\": %d,\n"
      "  \"attempts_deferred\": %d,\n  \"domains\": %d,\n  \"connections\": %d,\n"
      "  \"connections_failed\": %d,\n  \"message_bytes\": %d,\n  \"shards\": %d,\n"
      "  \"tls_handshakes\": %d,\n  \"tls_resumptions\": %d,\n  \"tls_failures\": %d,\n"
      "  \"not_attempted\": %d,\n  \"possible_duplicates\": %d,\n"
      "  \"stopped_by_signal\": %s,\n"
      "  \"resumed\": %s,\n  \"skipped_as_final_before\": %d,\n"
      "  \"all_runs\": {\"delivered\": %d, \"bounced\": %d, \"deferred\": %d, "
      "\"rejected\": %d, \"suppressed\": %d},\n"
      "  \"suppression_recorded\": {\"suppressed\": %d, \"soft_counted\": %d, "
      "\"already_suppressed\": %d},\n"
      "  \"suppression_list\": %s,\n"
      "  \"shaping\": %s,\n"
      "  \"duration_s\": %.3f,\n  \"messages_per_second\": %.1f,\n  \"exit_code\": %d\n}\n",
      summary.campaign, summary.rows, summary.recipients, summary.delivered, summary.bounced,
      summary.bounce_reasons.render_json(), summary.deferred, summary.rejected, summary.suppressed,
      summary.attempts_deferred, summary.domains, summary.connections, summary.connections_failed,
      summary.message_bytes, summary.shards, summary.tls_handshakes, summary.tls_resumptions,
      summary.tls_failures, summary.not_attempted, summary.possible_duplicates,
      summary.stopped_by_signal ? "true" : "false", summary.resumed ? "true" : "false",
      summary.skipped_as_final_before, summary.all_runs.delivered, summary.all_runs.bounced,
      summary.all_runs.deferred, summary.all_runs.rejected, summary.all_runs.suppressed,
      summary.suppression_recorded.suppressed, summary.suppression_recorded.soft_counted,
      summary.suppression_recorded.already_suppressed, render_path(summary.suppression_list),
      render_shaping(summary.shaping), summary.duration_s, summary.messages_per_second,
      summary.exit_code);
}

}  // namespace hayate::campaign::output
