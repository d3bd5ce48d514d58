#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# report.html in a real browser. A small campaign into hayate-sink, with bounces and deferrals
# chosen by address, writes OUT/report.html at its end, and `hayate report OUT` draws it again.
# Each is opened in headless Chromium from a file:// URL inside a network namespace of its own
# (no network at all, so a page that tried to load anything would show it as missing). Through
# the DOM Chromium built: every chart is there, drawn with marks whose data-value are the run's
# counts from summary.json. A screenshot is kept under the build tree for a person to look at.
# Chromium is required (scripts/install-deps.sh --with-browser): without it the test fails.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly REPORT_CHARTS="rate connections destinations providers bounce-reasons deferral-reasons
latency tls"
readonly CHROMIUM_TIMEOUT_S=90

# _chromium ARGS...: headless Chromium with no network (a new network namespace: as root
# `unshare -n`, otherwise a user namespace too), a throwaway profile, bounded in time. stdout
# is Chromium's (the DOM for --dump-dom); its own chatter goes to HAYATE_TEST_DIR/chromium.log.
_chromium() {
  local profile
  local -a isolate=(unshare -n)
  ((EUID == 0)) || isolate=(unshare -r -n)
  profile="$(mktemp -d "${HAYATE_TEST_DIR}/chromium-profile.XXXXXX")"
  timeout --kill-after=5 "${CHROMIUM_TIMEOUT_S}" "${isolate[@]}" chromium --no-sandbox \
    --headless --disable-gpu --no-first-run --no-default-browser-check --disable-extensions \
    --disable-background-networking --hide-scrollbars --force-device-scale-factor=1 \
    --user-data-dir="${profile}" "$@" 2>>"${HAYATE_TEST_DIR}/chromium.log"
}

# check_report_in_browser REPORT [SCREENSHOT] KEY=VALUE...: opens REPORT in Chromium and checks
# its DOM: every chart present, none "no data", and the marks add up to the expected counts
# (keys: delivered, bounced, deferred, attempts_deferred, deferred_attempts, tls_handshakes).
# With SCREENSHOT (a path ending in .png), also takes a 1200x3000 screenshot there.
check_report_in_browser() {
  local report="$1" screenshot="" dom
  shift
  [[ "${1:-}" != *.png ]] || { screenshot="$1"; shift; }
  command -v chromium >/dev/null ||
    fail "chromium is missing: run scripts/install-deps.sh --with-browser"
  [[ -s "${report}" ]] || fail "no report at ${report}"
  report="$(realpath "${report}")"
  dom="${HAYATE_TEST_DIR}/$(basename "${report}" .html).dom.html"
  _chromium --dump-dom "file://${report}" >"${dom}" ||
    fail "chromium --dump-dom ${report} failed (exit $?): see ${HAYATE_TEST_DIR}/chromium.log"
  "${HAYATE_PYTHON}" - "${dom}" "${REPORT_CHARTS}" "$@" <<'PY' || fail "report DOM check failed"
import sys
from html.parser import HTMLParser

dom_path, charts, expected = sys.argv[1], sys.argv[2].split(), {}
for pair in sys.argv[3:]:
    key, value = pair.split("=", 1)
    expected[key] = int(value)

class Dom(HTMLParser):
    """The charts (svg.chart) with the marks and "no data" texts inside each, the summary
    figures, and every element name seen."""
    def __init__(self):
        super().__init__()
        self.charts, self.figures, self.tags, self.chart = {}, {}, set(), None
    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        self.tags.add(tag)
        if tag == "svg" and "chart" in classes:
            self.chart = attributes.get("id", "")
            if self.chart in self.charts:
                sys.exit(f"two charts with id {self.chart}")
            self.charts[self.chart] = {"data-chart": attributes.get("data-chart"),
                                       "marks": [], "empty": 0}
        elif self.chart is not None and "mark" in classes:
            self.charts[self.chart]["marks"].append(attributes)
        elif self.chart is not None and "empty" in classes:
            self.charts[self.chart]["empty"] += 1
        if "figure" in classes:
            self.figures[attributes.get("data-figure")] = attributes.get("data-value")
    def handle_endtag(self, tag):
        if tag == "svg":
            self.chart = None

dom = Dom()
with open(dom_path, encoding="utf-8") as f:
    text = f.read()
dom.feed(text)
errors = []
if "<title>Campaign " not in text:
    errors.append("the DOM has no page title: Chromium did not load the report")
for tag in ("script", "img", "link", "iframe", "object", "embed"):
    if tag in dom.tags:
        errors.append(f"the page has a <{tag}>")
for name in charts:
    chart = dom.charts.get(f"chart-{name}")
    if chart is None:
        errors.append(f"no chart-{name}")
    elif chart["data-chart"] != name or chart["empty"] or not chart["marks"]:
        errors.append(f"chart-{name}: data-chart {chart['data-chart']!r}, "
                      f"{len(chart['marks'])} marks, {chart['empty']} 'no data'")

def marks(chart, kind):
    found = dom.charts.get(f"chart-{chart}", {"marks": []})["marks"]
    return [m for m in found if kind in m.get("class", "").split()]

def total(chart, kind):
    return sum(int(float(m.get("data-value", "nan"))) for m in marks(chart, kind))

def check(what, actual, key):
    if key in expected and actual != expected[key]:
        errors.append(f"{what}: {actual}, expected {expected[key]} ({key})")
    else:
        print(f"ok {what} = {actual}")

for key in ("delivered", "bounced", "deferred"):
    check(f"summary figure {key}", int(dom.figures.get(key) or -1), key)
for chart in ("destinations", "providers"):
    check(f"{chart}: delivered segments", total(chart, "seg-delivered"), "delivered")
    check(f"{chart}: bounced segments", total(chart, "seg-bounced"), "bounced")
    check(f"{chart}: deferred segments", total(chart, "seg-deferred"), "deferred_attempts")
check("bounce reasons", total("bounce-reasons", "seg-bounced"), "bounced")
check("deferral reasons", total("deferral-reasons", "seg-deferred"), "deferred_attempts")
check("TLS segment", total("tls", "seg-tls"), "tls_handshakes")
sent = marks("rate", "line-sent")
if len(sent) != 1 or not sent[0].get("points"):
    errors.append(f"chart-rate: {len(sent)} delivered + bounced lines, or one without points")
else:
    check("rate: delivered + bounced line", int(sent[0]["data-value"]), "sent")
if not marks("connections", "line-connections"):
    errors.append("chart-connections: no line")
bars = marks("latency", "bar-latency")
if len(bars) != 15 or total("latency", "bar-latency") <= 0:
    errors.append(f"chart-latency: {len(bars)} bars adding up to {total('latency', 'bar-latency')}")
if errors:
    sys.exit("\n".join(errors))
PY
  HAYATE_PASSED=$((HAYATE_PASSED + 1))
  if [[ -n "${screenshot}" ]]; then
    mkdir -p "$(dirname "${screenshot}")"
    rm -f "${screenshot}"
    _chromium --window-size=1200,3000 --screenshot="${screenshot}" "file://${report}" \
      >/dev/null || fail "chromium --screenshot failed: see ${HAYATE_TEST_DIR}/chromium.log"
    # A PNG of the window's size: signature, then IHDR's width and height (big-endian).
    "${HAYATE_PYTHON}" - "${screenshot}" <<'PY' || fail "screenshot ${screenshot} is not right"
import struct, sys
data = open(sys.argv[1], "rb").read(24)
if data[:8] != b"\x89PNG\r\n\x1a\n" or struct.unpack(">II", data[16:24]) != (1200, 3000):
    sys.exit(f"not a 1200x3000 PNG: {data[:24]!r}")
PY
    printf 'screenshot: %s\n' "${screenshot}"
    HAYATE_PASSED=$((HAYATE_PASSED + 1))
  fi
}

# The expected counts of run OUT (its summary.json) as KEY=VALUE words.
expected_counts() {
  local summary="$1/summary.json" key
  for key in delivered bounced deferred attempts_deferred tls_handshakes; do
    printf '%s=%s\n' "${key}" "$(json_get "${summary}" "${key}")"
  done
  printf 'sent=%s\n' "$(($(json_get "${summary}" delivered) + $(json_get "${summary}" bounced)))"
  # Attempts that were deferred, counted from deliveries.jsonl: the retried ones
  # (attempts_deferred) and those that ended the run deferred after an attempt; a deferral
  # written when the deadline cut a wait short (stage retry) or a stop (aborted) was none.
  printf 'deferred_attempts=%s\n' "$("${HAYATE_PYTHON}" -c '
import json, sys
print(sum(1 for line in open(sys.argv[1]) for r in [json.loads(line)]
          if r["type"] == "deferred" and r["stage"] not in ("retry", "aborted")))' \
    "$1/deliveries.jsonl")"
}

main() {
  hayate_test_init "$@"
  local port dir artifacts
  require_bin hayate >/dev/null
  command -v chromium >/dev/null ||
    fail "chromium is missing: run scripts/install-deps.sh --with-browser"
  read -r port < <(free_port 1)
  dir="${HAYATE_TEST_DIR}"
  artifacts="${HAYATE_ARTIFACT_DIR:-${HAYATE_BIN_DIR}/../test-artifacts}/test_report_browser"
  start_hayate_sink "${port}" --stats-file "${dir}/sink.json"

  # 300 recipients over ten domains; 5 deferred for good (tempfail), 5 bounced at RCPT, 3 at
  # the end of DATA, 5 deferred once then delivered (flaky). Two providers, each paced, so that
  # the run lasts a few seconds and its time series has points to draw.
  local rows="email,first_name" i
  for ((i = 0; i < 300; i++)); do rows+=$'\n'"user${i}@d$((i % 10)).test,User ${i}"; done
  for ((i = 0; i < 5; i++)); do
    rows+=$'\n'"tempfail-${i}@t.test,Temp"$'\n'"bounce-${i}@b.test,Bounce"
    rows+=$'\n'"flaky-${i}@f.test,Flaky"
  done
  for ((i = 0; i < 3; i++)); do rows+=$'\n'"datafail-${i}@df.test,Data"; done
  write_campaign "${dir}/campaign" "${rows}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 2
messages_per_connection = 20
retry_schedule = [\"200ms\", \"300ms\"]
deadline = \"30s\"
[routes]
\"*\" = \"127.0.0.1:${port}\"
[shaping]
rules = \"rules.toml\""
  cat >"${dir}/campaign/rules.toml" <<'TOML'
[destination.default]
rate = "60/s"

[destination.alpha]
domains = ["d0.test", "d1.test", "d2.test", "d3.test"]
rate = "40/s"
TOML

  HAYATE_RUN_TIMEOUT_S=120 run_hayate run run "${dir}/campaign/job.toml" --out "${dir}/out"
  assert_eq "run: exit (some still deferred)" 75 "${HAYATE_EXIT}"
  assert_eq "run: delivered" 305 "$(json_get "${dir}/out/summary.json" delivered)"
  assert_eq "run: bounced" 8 "$(json_get "${dir}/out/summary.json" bounced)"
  assert_eq "run: deferred" 5 "$(json_get "${dir}/out/summary.json" deferred)"
  local -a counts
  mapfile -t counts < <(expected_counts "${dir}/out")

  # The report the run wrote at its end.
  check_report_in_browser "${dir}/out/report.html" "${artifacts}/report.png" "${counts[@]}"
  cp "${dir}/out/report.html" "${artifacts}/report.html"

  # `hayate report OUT` draws it again from the records, the same counts.
  rm "${dir}/out/report.html"
  run_hayate report report "${dir}/out"
  assert_eq "hayate report: exit" 0 "${HAYATE_EXIT}"
  check_report_in_browser "${dir}/out/report.html" "${counts[@]}"
}

# Run as a test; sourced, it only defines check_report_in_browser (to try it on any report).
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
