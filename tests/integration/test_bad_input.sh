#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The real hayate binary fed bad input: command lines, job files, templates, recipient rows and
# output directories. Asserts the exact sysexits code, that the message names file:line and
# what to do, that refused jobs send nothing, and that bad rows are rejected one by one while
# the good rows around them are delivered exactly once.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
require_bin hayate-sink >/dev/null
read -r refuse_port mixed_port garbage_port utf8_port < <(free_port 4)
dir="${HAYATE_TEST_DIR}"
# Seconds any one hayate command may take; every case here needs well under one.
hayate_timeout_s=60

# run_bounded NAME ARGS...: hayate ARGS under a time limit; stdout and stderr kept in
# dir/NAME.out and dir/NAME.err, the exit code in HAYATE_EXIT. A hang fails the test.
run_bounded() {
  local name="$1"
  shift
  set +e
  timeout --kill-after=5 "${hayate_timeout_s}" "${hayate}" "$@" \
    >"${dir}/${name}.out" 2>"${dir}/${name}.err" </dev/null
  HAYATE_EXIT=$?
  set -e
  awk -v prefix="  ${name}: " '{ print prefix $0 }' "${dir}/${name}.err" >&2
  if ((HAYATE_EXIT == 124 || HAYATE_EXIT == 137)); then
    fail "${name}: hayate $* did not finish within ${hayate_timeout_s} s"
  fi
}
err_of() { cat "${dir}/$1.err"; }
out_of() { cat "${dir}/$1.out"; }

# expect_exit NAME CODE [NEEDLE...] -- ARGS...: runs hayate ARGS, asserts the exit code and that
# stderr holds every NEEDLE.
expect_exit() {
  local name="$1" code="$2" needle
  shift 2
  local -a needles=()
  while [[ "$1" != -- ]]; do needles+=("$1"); shift; done
  shift
  run_bounded "${name}" "$@"
  assert_eq "${name}: exit" "${code}" "${HAYATE_EXIT}"
  for needle in "${needles[@]}"; do
    assert_contains "${name}: stderr" "${needle}" "$(err_of "${name}")"
  done
}

# ehlo_keywords PORT: the extension keywords the server on 127.0.0.1:PORT announces in its EHLO
# reply (RFC 5321 4.1.1.1), one a line, upper case.
ehlo_keywords() {
  "${HAYATE_PYTHON}" - "$1" <<'PY'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    stream = s.makefile("rb")
    def reply():
        lines = []
        while True:
            line = stream.readline(1024)
            if len(line) < 4 or not line[:3].isdigit():
                sys.exit(f"not an SMTP reply line: {line!r}")
            lines.append(line[4:].strip().decode("utf-8", "replace"))
            if line[3:4] == b" ":
                return line[:3], lines
    code, _ = reply()
    if code != b"220":
        sys.exit(f"greeting {code!r}")
    s.sendall(b"EHLO probe.hayate.test\r\n")
    code, lines = reply()
    if code != b"250":
        sys.exit(f"EHLO answered {code!r}")
    for line in lines[1:]:  # the first line is the server's name
        print(line.split()[0].upper() if line.split() else "")
    s.sendall(b"QUIT\r\n")
    stream.readline(1024)
PY
}

# sink_counter STATS_FILE NAME: a counter of a stopped hayate-sink (its final --stats-file).
sink_counter() { json_get "$1" "$2"; }

# ---------------------------------------------------------------------------------------------
# 1. Command lines: 64 and a hint, or help with an example.

expect_exit "no arguments" 64 "Usage:" "Example:" --
expect_exit "unknown command" 64 "unknown command: frobnicate" "Try 'hayate --help'" -- \
  frobnicate
expect_exit "unknown global option" 64 "--frobnicate" "Try 'hayate --help'" -- --frobnicate
expect_exit "run: unknown option" 64 "unknown option for run: --frobnicate" \
  "Try 'hayate run --help'" -- run "${dir}/job.toml" --frobnicate
expect_exit "run: --out without a value" 64 "--out" -- run "${dir}/job.toml" --out
expect_exit "run: no job" 64 "run needs a job file" "Try 'hayate run --help'" -- run
expect_exit "run: two jobs" 64 "run takes one job file" -- run "${dir}/a.toml" "${dir}/b.toml"
expect_exit "check: no job" 64 "check takes one job file" -- check
expect_exit "check: unknown option" 64 "unknown option for check: --frobnicate" -- check --frobnicate
expect_exit "preview: no job" 64 "preview needs a job file" -- preview --row 1
expect_exit "preview: row 0" 64 "--row takes a row number from 1" "Try 'hayate preview --help'" -- \
  preview "${dir}/job.toml" --row 0
expect_exit "preview: row not a number" 64 "--row takes a row number from 1" -- \
  preview "${dir}/job.toml" --row 2x
expect_exit "preview: unknown option" 64 "unknown option for preview: --frobnicate" -- \
  preview "${dir}/job.toml" --frobnicate
for command in run check preview; do
  expect_exit "${command} --help" 0 -- "${command}" --help
  assert_contains "${command} --help: stdout" "Example:" "$(out_of "${command} --help")"
  assert_contains "${command} --help: stdout" "hayate ${command} " "$(out_of "${command} --help")"
done
expect_exit "--help" 0 -- --help
assert_contains "--help: stdout" "Example:" "$(out_of --help)"
assert_contains "--help: exit codes listed" "65 bad job or data" "$(out_of --help)"
expect_exit "--version" 0 -- --version
assert_contains "--version: stdout" "hayate " "$(out_of --version)"
# --metrics-listen is checked before the run starts: metrics stay on loopback, and run has no
# option that allows more.
expect_exit "run: --metrics-listen on a public address" 64 \
  "--metrics-listen: metrics listen address \"0.0.0.0:9464\" is not a loopback address" \
  "served on 127.0.0.0/8 or ::1 only" "Try 'hayate run --help'" -- \
  run "${dir}/job.toml" --metrics-listen 0.0.0.0:9464
if grep -q "option" "${dir}/run: --metrics-listen on a public address.err"; then
  fail "run: --metrics-listen: the message names an option:" \
    "$(err_of "run: --metrics-listen on a public address")"
fi
expect_exit "run: --metrics-listen without a port" 64 \
  "--metrics-listen: metrics listen address \"localhost\": no port" -- \
  run "${dir}/job.toml" --metrics-listen=localhost
# An address may start with '-' (RFC 5321 4.1.2); after "--" it is one, before it a usage error
# that says so.
expect_exit "suppress: address that looks like an option" 64 \
  "'-2@example.com' starts with '-', so it reads as an option" \
  "hayate suppress add -- -2@example.com" -- suppress add --db "${dir}/dash.db" -2@example.com
[[ ! -e "${dir}/dash.db" ]] || fail "suppress: a usage error created ${dir}/dash.db"
expect_exit "suppress: address after --" 0 "added 1" -- \
  suppress add --db "${dir}/dash.db" --reason "asked by mail" -- -2@example.com
expect_exit "suppress: list shows it" 0 -- suppress list --db "${dir}/dash.db"
assert_contains "suppress: list shows it" $'-2@example.com\tmanual\tasked by mail' \
  "$(out_of "suppress: list shows it")"
expect_exit "suppress: --help after -- is an operand" 65 \
  "'--help' is not an address or @domain" -- suppress add --db "${dir}/dash.db" -- --help
expect_exit "suppress: remove after --" 0 "removed 1" -- \
  suppress remove --db "${dir}/dash.db" -- -2@example.com
expect_exit "bounces classify: path that looks like an option" 64 \
  "unknown option -mailbox (a PATH that starts with '-' goes after '--')" -- \
  bounces classify -mailbox
expect_exit "bounces listen: address that looks like an option" 64 \
  "unknown option -x (an ADDRESS that starts with '-' goes after '--')" -- \
  bounces listen -x --job "${dir}/job.toml"

# ---------------------------------------------------------------------------------------------
# 2. Bad jobs: 65 from run, check and preview alike, the message naming file:line, nothing
# sent to the sink the job routes to, and no output directory made.
start_hayate_sink "${refuse_port}" --stats-file "${dir}/refuse-sink.json"
refuse_sink_pid="${HAYATE_LAST_PID}"

# bad_case NAME [DELIVERY_LINE]: a fresh valid campaign in dir/NAME routed to the sink, for a case to spoil.
# job.toml lines: 1 [campaign], 2 id, 3 recipients, 4 from, 5 subject, 6 text, 7 [delivery],
# 8 helo, 9 what DELIVERY_LINE says, then [routes].
bad_case() {
  local name="$1" delivery_line="${2:-}"
  write_campaign "${dir}/${name}" $'email,first_name\nann@example.test,Ann\nbob@example.test,Bob' \
    "[delivery]
helo = \"client.hayate.test\"
${delivery_line}
[routes]
\"*\" = \"127.0.0.1:${refuse_port}\""
}

# expect_bad_job NAME JOB NEEDLE...: run, check and preview all exit 65 (or BAD_JOB_EXIT) with
# every NEEDLE on stderr; run made no output directory.
expect_bad_job() {
  local name="$1" job="$2" command
  shift 2
  for command in run check preview; do
    local -a args=("${command}" "${job}")
    [[ "${command}" == run ]] && args+=(--out "${dir}/${name}.out")
    [[ "${command}" == preview ]] && args+=(--row 1)
    expect_exit "${name} (${command})" "${BAD_JOB_EXIT:-65}" "$@" -- "${args[@]}"
  done
  [[ ! -e "${dir}/${name}.out" ]] || fail "${name}: run created ${dir}/${name}.out"
}

# The control: the unspoiled case is valid (check sends nothing either).
bad_case control
# --no-preflight: the summary alone on stdout (test_preflight.sh checks the pre-flight).
expect_exit "control job (check)" 0 -- check --no-preflight "${dir}/control/job.toml"
assert_eq "control job: summary" "integration: 2 recipients in 1 domain, 0 rows rejected" \
  "$(out_of "control job (check)" | head -1)"

# A job saved by Windows Notepad (UTF-8 BOM, CRLF) is a good job.
bad_case windows
sed -i '1s/^/\xef\xbb\xbf/; s/$/\r/' "${dir}/windows/job.toml"
expect_exit "job file with BOM and CRLF (check)" 0 -- check "${dir}/windows/job.toml"

# A file that is not there is EX_NOINPUT (66); one that is there but wrong, EX_DATAERR (65).
BAD_JOB_EXIT=66 expect_bad_job "missing job file" "${dir}/nowhere/job.toml" \
  "${dir}/nowhere/job.toml: cannot open the job file: No such file or directory"

bad_case toml-syntax "connections_max = = 4"
expect_bad_job "TOML syntax error" "${dir}/toml-syntax/job.toml" \
  "${dir}/toml-syntax/job.toml:9:19: invalid TOML"

bad_case toml-open-string 'helo_name = "client'
expect_bad_job "TOML string left open" "${dir}/toml-open-string/job.toml" \
  "${dir}/toml-open-string/job.toml:9:" "(is the closing quote missing?)"

bad_case unknown-key "conections_max = 4"
expect_bad_job "unknown key" "${dir}/unknown-key/job.toml" \
  "${dir}/unknown-key/job.toml:9:1: unknown key 'conections_max' in [delivery]" \
  "did you mean 'connections_max'?"

bad_case wrong-type 'connections_max = "four"'
expect_bad_job "wrong type" "${dir}/wrong-type/job.toml" \
  "${dir}/wrong-type/job.toml:9:19: [delivery] connections_max must be an integer, got a string"

bad_case wrong-duration 'deadline = "soon"'
expect_bad_job "not a duration" "${dir}/wrong-duration/job.toml" \
  "${dir}/wrong-duration/job.toml:9:12: [delivery] deadline 'soon' is not a duration" \
  '"30s"'

bad_case missing-recipients
sed -i 's/^recipients = .*/recipients = "lists\/gone.csv"/' "${dir}/missing-recipients/job.toml"
BAD_JOB_EXIT=66 expect_bad_job "missing recipients file" "${dir}/missing-recipients/job.toml" \
  "${dir}/missing-recipients/job.toml:3:14:" \
  "recipients file '${dir}/missing-recipients/lists/gone.csv' not found" \
  "(paths are relative to the job file)"

bad_case no-email-column
printf 'mail,first_name\nann@example.test,Ann\n' >"${dir}/no-email-column/recipients.csv"
expect_bad_job "CSV without an email column" "${dir}/no-email-column/job.toml" \
  "${dir}/no-email-column/recipients.csv:1: the header has no 'email' column" \
  "(columns: mail, first_name)"

bad_case empty-csv
: >"${dir}/empty-csv/recipients.csv"
expect_bad_job "empty CSV" "${dir}/empty-csv/job.toml" \
  "${dir}/empty-csv/recipients.csv: the file is empty (expected a header row"

bad_case missing-column
printf 'Hello {{first_name}},\n\nyour {{city}} office is open.\n' >"${dir}/missing-column/body.txt"
expect_bad_job "template naming a missing column" "${dir}/missing-column/job.toml" \
  "${dir}/missing-column/body.txt:3: unknown field 'city'" "(columns: email, first_name)"

bad_case unclosed-tag
printf 'Hello {{first_name}},\nsee you {{first_name\nsoon.\n' >"${dir}/unclosed-tag/body.txt"
expect_bad_job "unclosed template tag" "${dir}/unclosed-tag/job.toml" \
  "${dir}/unclosed-tag/body.txt:2: unclosed tag '{{first_name" "expected '}}'"

bad_case subject-injection
sed -i 's/^subject = .*/subject = "Hi {{first_name}}\\r\\nBcc: victim@evil.test"/' \
  "${dir}/subject-injection/job.toml"
expect_bad_job "subject with an escaped CR LF" "${dir}/subject-injection/job.toml" \
  "${dir}/subject-injection/job.toml:5:11: [campaign] subject must not contain CR or LF"

bad_case subject-field
sed -i 's/^subject = .*/subject = "Hi {{frist_name}}"/' "${dir}/subject-field/job.toml"
expect_bad_job "subject with a missing field" "${dir}/subject-field/job.toml" \
  "${dir}/subject-field/job.toml:5: unknown field 'frist_name'" "did you mean 'first_name'?"

# [campaign.headers] that would reach every recipient, or forge what servers and signers add.
bad_case header-bcc $'[campaign.headers]\n"X-Campaign" = "nl"\nBcc = "audit@example.org"'
expect_bad_job "a Bcc header" "${dir}/header-bcc/job.toml" \
  "${dir}/header-bcc/job.toml:11:1: [campaign.headers] 'Bcc' would go to every recipient" \
  "hayate sends to the recipients file only"
bad_case header-dkim $'[campaign.headers]\n"DKIM-Signature" = "v=1; d=example.com"'
expect_bad_job "a DKIM-Signature header" "${dir}/header-dkim/job.toml" \
  "${dir}/header-dkim/job.toml:10:1: [campaign.headers] 'DKIM-Signature' is written when" \
  "sign with a [[dkim]] table"

# A typo in the [shaping] rules file fails check as it fails run.
bad_case shaping-typo $'[shaping]\nrules = "rules.toml"'
printf '[destination.default]\nconections_max = 5\n' >"${dir}/shaping-typo/rules.toml"
for command in check run; do
  args=("${command}" "${dir}/shaping-typo/job.toml")
  [[ "${command}" == run ]] && args+=(--out "${dir}/shaping-typo.out")
  expect_exit "shaping rules typo (${command})" 65 "${dir}/shaping-typo/rules.toml:2" \
    "unknown key 'conections_max'" -- "${args[@]}"
done

# Secret files others can read: a warning naming the file and its mode; --strict fails.
bad_case loose-secrets $'[verp]\ndomain = "bounces.example.test"\nsecret_file = "verp.key"'
printf 'a-secret-of-at-least-16-bytes\n' >"${dir}/loose-secrets/verp.key"
chmod 644 "${dir}/loose-secrets/verp.key"
key="${dir}/loose-secrets/verp.key"
expect_exit "secret file readable by others (check)" 0 \
  "hayate: warning: [verp] secret_file ${key} is readable by group or others (mode 0644)" \
  "; chmod 600 ${key}" -- check "${dir}/loose-secrets/job.toml"
expect_exit "secret file readable by others (check --strict)" 65 "(mode 0644)" -- \
  check --strict --no-preflight "${dir}/loose-secrets/job.toml"
chmod 600 "${dir}/loose-secrets/verp.key"
expect_exit "private secret file (check --strict)" 0 -- \
  check --strict --no-preflight "${dir}/loose-secrets/job.toml"
if grep -q "warning" "${dir}/private secret file (check --strict).err"; then
  fail "a private secret file was warned about: $(err_of "private secret file (check --strict)")"
fi

stop_process "${refuse_sink_pid}"
refuse_stats="${dir}/refuse-sink.json"
assert_eq "refused jobs: sink messages" 0 "$(sink_counter "${refuse_stats}" messages)"
assert_eq "refused jobs: sink recipients" 0 "$(sink_counter "${refuse_stats}" recipients)"
assert_eq "refused jobs: sink RCPTs refused" 0 "$(sink_counter "${refuse_stats}" rcpt_rejected)"
# The one session is the readiness probe's connection (lib.sh): hayate never connected.
assert_eq "refused jobs: sink sessions (the readiness probe only)" 1 \
  "$(sink_counter "${refuse_stats}" sessions)"

# ---------------------------------------------------------------------------------------------
# 3. A spreadsheet export with bad rows among good ones: each bad row rejected with its line
# and reason, the good ones delivered exactly once, exit 0 (a rejected row is final).
mkdir -p "${dir}/mixed-sink"
start_hayate_sink "${mixed_port}" --stats-file "${dir}/mixed-sink.json" \
  --maildir "${dir}/mixed-sink"
mixed_sink_pid="${HAYATE_LAST_PID}"
mixed="${dir}/mixed"
write_campaign "${mixed}" "" "[delivery]
helo = \"client.hayate.test\"
[routes]
\"*\" = \"127.0.0.1:${mixed_port}\""
# CRLF line ends, as spreadsheets write them. Line numbers are those of the file.
{
  printf '\xef\xbb\xbfemail,first_name,city\r\n'                     # 1 UTF-8 BOM, then header
  printf 'alice@example.test,Alice,Tokyo\r\n'                        # 2 good
  printf 'bob@example.test,"Bob"by,Osaka\r\n'                        # 3 text after a quote
  printf 'carol@example.test,Carol,Kyoto\r\n'                        # 4 good
  printf 'dave@example.test,Dave\r\n'                                # 5 two fields of three
  printf 'not-an-address,Eve,Nara\r\n'                               # 6 invalid address
  printf 'alice@EXAMPLE.TEST,Alice Again,Tokyo\r\n'                  # 7 duplicate of line 2
  printf 'frank@example.test,"Frank\r\nBcc: victim@evil.test",Kobe\r\n'  # 8-9 CR LF in quotes
  printf 'grace@example.test,Gr\0ace,Sendai\r\n'                     # 10 NUL in a field
  printf 'hanako@例え.テスト,Hanako,Sapporo\r\n'                       # 11 good: IDN domain
  printf 'たろう@example.test,Taro,Fukuoka\r\n'                        # 12 non-ASCII local part
  printf 'heidi@example.test,He"idi,Nagoya\r\n'                      # 13 quote in unquoted
  printf 'ivan@example.test,Ivan,Hakodate,extra\r\n'                 # 14 four fields of three
  printf 'zoe@example.test,Zoe,Naha\r\n'                             # 15 good
  printf 'judy@example.test,"Judy,Sapporo\r\n'                       # 16 quote never closed
} >"${mixed}/recipients.csv"
# 例え.テスト in IDNA A-labels (RFC 5890), as Python's idna codec also spells it.
idn_address="hanako@xn--r8jz45g.xn--zckzah"
utf8_address="たろう@example.test"

# The sink's EHLO decides what must happen to the non-ASCII local part (RFC 6531 3.4).
mixed_keywords="$(ehlo_keywords "${mixed_port}")" || fail "cannot read hayate-sink's EHLO"
if grep -qx SMTPUTF8 <<<"${mixed_keywords}"; then
  printf 'hayate-sink announces SMTPUTF8: %s is delivered\n' "${utf8_address}"
  utf8_delivered=1
else
  printf 'hayate-sink does not announce SMTPUTF8: %s bounces 5.6.7\n' "${utf8_address}"
  utf8_delivered=0
fi
good_delivered=$((4 + utf8_delivered))

# Expected rejects, in file order: LINE|EMAIL|REASON FRAGMENT. EMAIL "-" where the row did not
# parse (the reader cannot know which field is the address).
expected_rejects="3|-|unexpected text after the closing quote of column 2 'first_name'
5|-|expected 3 fields, found 2
6|not-an-address|invalid address: missing '@'
7|alice@EXAMPLE.TEST|duplicate: the same address is on line 2
8|frank@example.test|field 'first_name' contains a line break or NUL byte
10|grace@example.test|field 'first_name' contains a line break or NUL byte
13|-|quote inside the unquoted column 2 'first_name'
14|-|expected 3 fields, found 4
16|-|unterminated quoted field in column 2 'first_name'"

run_bounded "mixed run" run "${mixed}/job.toml" --out "${mixed}/out"
assert_eq "mixed run: exit (rejected rows are final)" 0 "${HAYATE_EXIT}"
summary="${mixed}/out/summary.json"
assert_eq "mixed run: rows" 14 "$(json_get "${summary}" rows)"
assert_eq "mixed run: recipients" 5 "$(json_get "${summary}" recipients)"
assert_eq "mixed run: rejected" 9 "$(json_get "${summary}" rejected)"
assert_eq "mixed run: delivered" "${good_delivered}" "$(json_get "${summary}" delivered)"
assert_eq "mixed run: bounced" $((1 - utf8_delivered)) "$(json_get "${summary}" bounced)"
assert_eq "mixed run: deferred" 0 "$(json_get "${summary}" deferred)"

# rejects.csv: exactly the bad rows, in order, with file, line, address and reason.
"${HAYATE_PYTHON}" - "${mixed}/out/rejects.csv" "${mixed}/recipients.csv" \
  "${expected_rejects}" <<'PY' || fail "rejects.csv differs from the bad rows"
import csv, sys
path, source, expected_text = sys.argv[1], sys.argv[2], sys.argv[3]
with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
if rows[0] != ["file", "line", "email", "reason"]:
    sys.exit(f"rejects.csv header {rows[0]}")
expected = [line.split("|", 2) for line in expected_text.splitlines()]
got = rows[1:]
if [r[1] for r in got] != [e[0] for e in expected]:
    sys.exit(f"rejected lines {[r[1] for r in got]}, expected {[e[0] for e in expected]}")
for row, (line, email, reason) in zip(got, expected):
    if len(row) != 4 or not row[0].endswith("recipients.csv") or row[0] != source:
        sys.exit(f"line {line}: row {row} does not name {source}")
    if email != "-" and row[2] != email:
        sys.exit(f"line {line}: email {row[2]!r}, expected {email!r}")
    if reason not in row[3]:
        sys.exit(f"line {line}: reason {row[3]!r} lacks {reason!r}")
print(f"ok rejects.csv: {len(got)} rows, lines and reasons as expected")
PY
HAYATE_PASSED=$((HAYATE_PASSED + 1))

# deliveries.jsonl: a final "rejected" record per bad row (same lines), each good row delivered
# once (or the SMTPUTF8 bounce), nothing else.
"${HAYATE_PYTHON}" - "${mixed}/out/deliveries.jsonl" "${expected_rejects}" "${idn_address}" \
  "${utf8_address}" "${utf8_delivered}" <<'PY' || fail "deliveries.jsonl is not as expected"
import collections, json, sys
path, expected_text, idn, utf8, utf8_delivered = sys.argv[1:6]
records = [json.loads(line) for line in open(path, encoding="utf-8")]
rejected = [r for r in records if r["type"] == "rejected"]
lines = [str(r["line"]) for r in rejected]
expected_lines = [line.split("|", 1)[0] for line in expected_text.splitlines()]
if sorted(lines, key=int) != expected_lines:
    sys.exit(f"rejected lines {lines}, expected {expected_lines}")
for r in rejected:
    if r["stage"] != "input" or r["final"] is not True or not r["reply"]:
        sys.exit(f"rejected record {r}")
delivered = collections.Counter(r["recipient"] for r in records if r["type"] == "delivered")
want = {"alice@example.test": 2, "carol@example.test": 4, idn: 11, "zoe@example.test": 15}
if utf8_delivered == "1":
    want[utf8] = 12
if set(delivered) != set(want) or any(n != 1 for n in delivered.values()):
    sys.exit(f"delivered {dict(delivered)}, expected each of {sorted(want)} once")
for r in records:
    if r["type"] == "delivered" and r["line"] != want[r["recipient"]]:
        expected_line = want[r["recipient"]]
        sys.exit(f"{r['recipient']} delivered with line {r['line']}, expected {expected_line}")
idn_record = next(r for r in records if r["recipient"] == idn)
if idn_record["domain"] != idn.split("@")[1]:
    sys.exit(f"IDN record domain {idn_record['domain']!r}")
others = [r for r in records if r["type"] not in ("rejected", "delivered")]
if utf8_delivered == "1":
    if others:
        sys.exit(f"unexpected records {others}")
else:
    if len(others) != 1 or others[0]["type"] != "bounced" or others[0]["recipient"] != utf8 \
            or others[0]["enhanced"] != "5.6.7" or others[0]["final"] is not True:
        sys.exit(f"expected one final 5.6.7 bounce for {utf8}, got {others}")
print(f"ok deliveries.jsonl: {len(rejected)} rejected, {len(delivered)} delivered once")
PY
HAYATE_PASSED=$((HAYATE_PASSED + 1))
assert_contains "mixed run: IDN domain as A-label" "\"recipient\":\"${idn_address}\"" \
  "$(cat "${mixed}/out/deliveries.jsonl")"

# check: same job, 65, every bad row as "recipients.csv:LINE: reason", the good ones counted.
expect_exit "mixed check" 65 -- check --no-preflight "${mixed}/job.toml"
while IFS='|' read -r line _ reason; do
  grep -qF "${mixed}/recipients.csv:${line}: ${reason}" "${dir}/mixed check.err" ||
    fail "mixed check: no line '${mixed}/recipients.csv:${line}: ${reason}...' on stderr"
  HAYATE_PASSED=$((HAYATE_PASSED + 1))
done <<<"${expected_rejects}"
assert_eq "mixed check: lines on stderr" 9 \
  "$(grep -c 'recipients.csv:[0-9]*: ' "${dir}/mixed check.err")"
assert_eq "mixed check: summary" "integration: 5 recipients in 2 domains, 9 rows rejected" \
  "$(out_of "mixed check" | head -1)"

# preview of a rejected row: 65, naming the row's line.
expect_exit "mixed preview of a bad row" 65 \
  "${mixed}/recipients.csv:3: row 2 would be rejected: unexpected text after the closing quote" \
  -- preview "${mixed}/job.toml" --row 2
expect_exit "mixed preview past the end" 64 "has 14 rows; there is no row 99" -- \
  preview "${mixed}/job.toml" --row 99

# A second run into the same --out resumes the finished campaign: nothing is sent again, the
# logs are not repeated, and the summary counts every run.
deliveries_before="$(sha256sum <"${mixed}/out/deliveries.jsonl")"
expect_exit "second run into the same --out" 0 "resuming (run 2)" -- \
  run "${mixed}/job.toml" --out "${mixed}/out"
assert_eq "second run: deliveries.jsonl untouched" "${deliveries_before}" \
  "$(sha256sum <"${mixed}/out/deliveries.jsonl")"
assert_eq "second run: skipped as final before" "${good_delivered}" \
  "$(json_get "${mixed}/out/summary.json" skipped_as_final_before)"
assert_eq "second run: delivered over all runs" "${good_delivered}" \
  "$(json_get "${mixed}/out/summary.json" all_runs.delivered)"

# An --out that cannot be a directory: 73 before anything is sent.
: >"${mixed}/a-file"
expect_exit "--out under a regular file" 73 "${mixed}/a-file/sub" -- \
  run "${mixed}/job.toml" --out "${mixed}/a-file/sub"
expect_exit "--out is a regular file" 73 "${mixed}/a-file" "not a directory" -- \
  run "${mixed}/job.toml" --out "${mixed}/a-file"

stop_process "${mixed_sink_pid}"
assert_eq "mixed: sink messages (first run only)" "${good_delivered}" \
  "$(sink_counter "${dir}/mixed-sink.json" messages)"
# Each good recipient once in the Maildir; the CR LF row never turned into a Bcc header.
"${HAYATE_PYTHON}" - "${dir}/mixed-sink" "${idn_address}" "${utf8_address}" \
  "${utf8_delivered}" <<'PY' || fail "mixed: Maildir check failed"
import collections, os, sys
root, idn, utf8, utf8_delivered = sys.argv[1:5]
new = os.path.join(root, "new")
seen = collections.Counter()
for name in os.listdir(new):
    data = open(os.path.join(new, name), "rb").read()
    if b"victim@evil.test" in data or b"\0" in data:
        sys.exit(f"{name}: a rejected row's content reached a message")
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line.lower().startswith(b"delivered-to:"):
            seen[line.split(b":", 1)[1].strip().strip(b"<>").decode("utf-8")] += 1
want = {"alice@example.test", "carol@example.test", idn, "zoe@example.test"}
if utf8_delivered == "1":
    want.add(utf8)
if set(seen) != want or any(n != 1 for n in seen.values()):
    sys.exit(f"Maildir holds {dict(seen)}, expected each of {sorted(want)} once")
print(f"ok Maildir: {len(seen)} distinct recipients, once each")
PY
HAYATE_PASSED=$((HAYATE_PASSED + 1))

# ---------------------------------------------------------------------------------------------
# 4. preview --row 2 of a clean job: the message on stdout (To: row 2, Subject rendered), the
# envelope on stderr only.
preview="${dir}/preview"
preview_csv=$'email,first_name\nann@example.test,Ann\nbob@example.test,"Smith, Jane"'
preview_csv+=$'\ncid@example.test,Cid'
write_campaign "${preview}" "${preview_csv}" "[routes]
\"*\" = \"127.0.0.1:${mixed_port}\""
expect_exit "preview row 2" 0 \
  "envelope: MAIL FROM:<news@example.com> RCPT TO:<bob@example.test> (line 3)" -- \
  preview "${preview}/job.toml" --row 2
preview_out="$(tr -d '\r' <"${dir}/preview row 2.out")"
assert_eq "preview: To" "To: bob@example.test" "$(grep '^To:' <<<"${preview_out}")"
assert_eq "preview: Subject rendered" "Subject: Hi Smith, Jane" \
  "$(grep '^Subject:' <<<"${preview_out}")"
assert_contains "preview: body rendered" "Hello Smith, Jane," "${preview_out}"
assert_eq "preview: no envelope on stdout" 0 "$(grep -c 'envelope:' <<<"${preview_out}" || true)"
assert_eq "preview: no other row on stdout" 0 \
  "$(grep -c -e ann@example.test -e cid@example.test <<<"${preview_out}" || true)"
assert_eq "preview: CRLF line ends" "$(wc -l <"${dir}/preview row 2.out")" \
  "$(grep -c $'\r$' "${dir}/preview row 2.out")"

# ---------------------------------------------------------------------------------------------
# 5. A server answering garbage to one RCPT: that recipient deferred ("malformed reply"),
# every other one delivered exactly once, exit 75.
mkdir -p "${dir}/garbage-sink"
start_hayate_sink "${garbage_port}" --stats-file "${dir}/garbage-sink.json" \
  --maildir "${dir}/garbage-sink"
garbage_sink_pid="${HAYATE_LAST_PID}"
csv="email,first_name"
for i in 1 2 3 4 5; do csv+=$'\n'"user${i}@g.test,U${i}"; done
csv+=$'\n'"garbage-1@g.test,G"
for i in 6 7 8 9 10; do csv+=$'\n'"user${i}@g.test,U${i}"; done
csv+=$'\n'"user1@h.test,H"
write_campaign "${dir}/garbage" "${csv}" "[delivery]
helo = \"client.hayate.test\"
retry_schedule = []
deadline = \"20s\"
[routes]
\"*\" = \"127.0.0.1:${garbage_port}\""
run_bounded "garbage run" run "${dir}/garbage/job.toml" --out "${dir}/garbage/out"
assert_eq "garbage: exit (one deferred)" 75 "${HAYATE_EXIT}"
assert_eq "garbage: delivered" 11 "$(json_get "${dir}/garbage/out/summary.json" delivered)"
assert_eq "garbage: deferred" 1 "$(json_get "${dir}/garbage/out/summary.json" deferred)"
assert_eq "garbage: bounced" 0 "$(json_get "${dir}/garbage/out/summary.json" bounced)"
garbage_record="$(grep '"recipient":"garbage-1@g.test"' "${dir}/garbage/out/deliveries.jsonl")"
assert_eq "garbage: one record for the recipient" 1 "$(wc -l <<<"${garbage_record}")"
assert_contains "garbage: deferred" '"type":"deferred"' "${garbage_record}"
assert_contains "garbage: final" '"final":true' "${garbage_record}"
assert_contains "garbage: reply says malformed" "malformed reply" "${garbage_record}"
stop_process "${garbage_sink_pid}"
assert_eq "garbage: sink messages" 11 "$(sink_counter "${dir}/garbage-sink.json" messages)"
assert_eq "garbage: sink saw the garbage RCPT" 1 \
  "$(sink_counter "${dir}/garbage-sink.json" rcpt_garbage)"
assert_eq "garbage: distinct Delivered-To in the Maildir" 11 \
  "$(cat "${dir}"/garbage-sink/new/* | tr -d '\r' | grep -i '^Delivered-To:' | sort -u | wc -l)"
assert_eq "garbage: messages in the Maildir" 11 "$(find "${dir}/garbage-sink/new" -type f | wc -l)"

# ---------------------------------------------------------------------------------------------
# 6. The non-ASCII local part against a server whose EHLO lacks SMTPUTF8 (aiosmtpd by default):
# a final 5.6.7 bounce, not a deferral, and the ASCII recipient still delivered.
start_aiosmtpd "${utf8_port}"
utf8_keywords="$(ehlo_keywords "${utf8_port}")" || fail "cannot read aiosmtpd's EHLO"
write_campaign "${dir}/utf8" $'email,first_name\n'"${utf8_address}"$',Taro\nascii@example.test,A' \
  "[delivery]
helo = \"client.hayate.test\"
[routes]
\"*\" = \"127.0.0.1:${utf8_port}\""
run_bounded "utf8 run" run "${dir}/utf8/job.toml" --out "${dir}/utf8/out"
assert_eq "utf8: exit" 0 "${HAYATE_EXIT}"
utf8_record="$(grep -F "\"recipient\":\"${utf8_address}\"" "${dir}/utf8/out/deliveries.jsonl")"
if grep -qx SMTPUTF8 <<<"${utf8_keywords}"; then
  assert_contains "utf8: delivered (server offers SMTPUTF8)" '"type":"delivered"' "${utf8_record}"
  assert_eq "utf8: delivered" 2 "$(json_get "${dir}/utf8/out/summary.json" delivered)"
else
  assert_contains "utf8: bounced (no SMTPUTF8)" '"type":"bounced"' "${utf8_record}"
  assert_contains "utf8: RFC 6531 status" '"enhanced":"5.6.7"' "${utf8_record}"
  assert_contains "utf8: reason" "SMTPUTF8" "${utf8_record}"
  assert_eq "utf8: delivered" 1 "$(json_get "${dir}/utf8/out/summary.json" delivered)"
  assert_eq "utf8: bounced" 1 "$(json_get "${dir}/utf8/out/summary.json" bounced)"
  wait_until_eq "utf8: aiosmtpd messages" 1 10 json_get "$(aiosmtpd_stats_file "${utf8_port}")" \
    messages
fi

# ---------------------------------------------------------------------------------------------
# 7. A job path that is a FIFO: refused as "not a regular file", not waited on forever (open(2)
# of a FIFO blocks until a writer comes). Last, with a short limit, since a hang here would
# otherwise hide the cases above.
mkfifo "${dir}/fifo.toml"
hayate_timeout_s=10
expect_exit "job file is a FIFO (check)" 65 "${dir}/fifo.toml: the job file is not a regular file" \
  -- check "${dir}/fifo.toml"
