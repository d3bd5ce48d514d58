// OUT/report.html: every run of a campaign drawn as one self-contained HTML5 page, from the run
// records (runs.jsonl, and status.json for a run still going). Inline CSS and SVG drawn here: no
// script, no font, no network, so it opens anywhere, prints, and can be mailed as it is.
// Pure: records in, text out; the caller reads the clock and writes the file.
#pragma once

#include <string>
#include <vector>

#include "campaign/output/run_record.h"

namespace hayate::campaign::inline output {

struct ReportOptions {
  std::string campaign;         // the campaign's id, the page's title
  double generated_unix_s = 0;  // when the report is drawn, shown in its header
};

// The page for `runs`, in the order they ran (the first run first). Its size is bounded
// whatever the runs hold: the time charts are thinned to a fixed number of points, the shaping
// markers and the tables are capped. Every string from the records is escaped.
std::string render_report_html(const std::vector<RunRecord>& runs, const ReportOptions& options);

}  // namespace hayate::campaign::output
