#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Files a job names, as someone hostile or careless may leave them: a FIFO as the recipients
# list (check and run must refuse it at once, not hang with SIGTERM blocked), /dev/zero or a
# FIFO as a template, a template, password file or CA file far over its limit. The real hayate
# binary must refuse each with exit 65 and a message naming the file and what is wrong, in
# bounded time and memory. Then spreadsheet formulas in the data: addresses and reasons that
# start with = + - @ are written neutralised (a leading ') in the suppression export,
# accounting.csv and rejects.csv, and an export imported again gives the same list.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
require_bin hayate-sink >/dev/null
read -r sink_port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"

# run_measured NAME ARGS...: hayate ARGS, killed if it hangs (SIGKILL 5 s after SIGTERM: a run
# blocks SIGTERM in every thread but its monitor). stderr in dir/NAME.err, the exit code in
# HAYATE_EXIT, the peak resident memory in kB in HAYATE_RSS_KB.
run_measured() {
  local name="$1" result
  shift
  result="$("${HAYATE_PYTHON}" - "${dir}/${name}" "${hayate}" "$@" <<'PY'
import resource, subprocess, sys
base, argv = sys.argv[1], sys.argv[2:]
with open(base + ".out", "wb") as out, open(base + ".err", "wb") as err:
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        code = "hung"
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
)"
  read -r HAYATE_EXIT HAYATE_RSS_KB <<<"${result}"
  sed "s/^/  ${name}: /" "${dir}/${name}.err" >&2
  [[ "${HAYATE_EXIT}" != hung ]] || fail "${name}: hayate $* did not finish within 30 s"
}
err_of() { cat "${dir}/$1.err"; }

# expect_refused NAME CODE NEEDLE ARGS...: exit CODE, NEEDLE on stderr, under 64 MB of memory.
expect_refused() {
  local name="$1" code="$2" needle="$3"
  shift 3
  run_measured "${name}" "$@"
  assert_eq "${name}: exit" "${code}" "${HAYATE_EXIT}"
  assert_contains "${name}: stderr" "${needle}" "$(err_of "${name}")"
  ((HAYATE_RSS_KB < 64 * 1024)) ||
    fail "${name}: peak memory ${HAYATE_RSS_KB} kB: the file was read beyond its limit"
  HAYATE_PASSED=$((HAYATE_PASSED + 1))
}

start_hayate_sink "${sink_port}" --stats-file "${dir}/sink.json"
sink_pid="${HAYATE_LAST_PID}"
routes="[delivery]
helo = \"client.hayate.test\"
[routes]
\"*\" = \"127.0.0.1:${sink_port}\""

# ---------------------------------------------------------------------------------------------
# 1. A FIFO as the recipients list: check and run refuse it at once (65), naming the file; no
# writer ever comes, so a run that opened it would wait for ever.
write_campaign "${dir}/fifo" "" "${routes}"
rm "${dir}/fifo/recipients.csv"
mkfifo "${dir}/fifo/recipients.csv"
for command in check run; do
  args=("${command}" "${dir}/fifo/job.toml")
  [[ "${command}" == run ]] && args+=(--out "${dir}/fifo/out")
  expect_refused "recipients FIFO (${command})" 65 \
    "[campaign] recipients '${dir}/fifo/recipients.csv' is a FIFO, not a regular file" \
    "${args[@]}"
done
[[ ! -e "${dir}/fifo/out" ]] || fail "recipients FIFO: run created its output directory"

# ---------------------------------------------------------------------------------------------
# 2. Templates: /dev/zero and a FIFO refused as not regular; one far over 16 MiB (sparse: it
# costs no disk) refused after reading no more than the limit.
write_campaign "${dir}/zero" $'email,first_name\nann@example.test,Ann' "${routes}"
sed -i 's|^text = .*|text = "/dev/zero"|' "${dir}/zero/job.toml"
expect_refused "text is dev zero" 65 \
  "[campaign] text '/dev/zero' is a character device, not a regular file" \
  check "${dir}/zero/job.toml"

write_campaign "${dir}/fifo-text" $'email,first_name\nann@example.test,Ann' "${routes}"
rm "${dir}/fifo-text/body.txt"
mkfifo "${dir}/fifo-text/body.txt"
expect_refused "text is a FIFO" 65 \
  "[campaign] text '${dir}/fifo-text/body.txt' is a FIFO, not a regular file" \
  run "${dir}/fifo-text/job.toml" --out "${dir}/fifo-text/out"

write_campaign "${dir}/huge" $'email,first_name\nann@example.test,Ann' "${routes}"
truncate -s 1G "${dir}/huge/body.txt"
expect_refused "template of 1 GB" 65 \
  "${dir}/huge/body.txt: the template is over 16777216 bytes" check "${dir}/huge/job.toml"

# ---------------------------------------------------------------------------------------------
# 3. A password file of 1 GB without a line break, and a CA file of 1 GB: refused, not read.
write_campaign "${dir}/password" $'email,first_name\nann@example.test,Ann' "[relay]
host = \"127.0.0.1\"
port = ${sink_port}
username = \"sender\"
password_file = \"password\""
truncate -s 1G "${dir}/password/password"
expect_refused "password file of 1 GB" 65 \
  "[relay] password_file ${dir}/password/password: the password file is over 65536 bytes" \
  check "${dir}/password/job.toml"

write_campaign "${dir}/ca" $'email,first_name\nann@example.test,Ann' "[delivery]
helo = \"client.hayate.test\"
ca_file = \"ca.pem\"
[routes]
\"*\" = \"127.0.0.1:${sink_port}\""
truncate -s 1G "${dir}/ca/ca.pem"
expect_refused "CA file of 1 GB" 65 "${dir}/ca/ca.pem: the CA file is over 16777216 bytes" \
  check "${dir}/ca/job.toml"

stop_process "${sink_pid}"
assert_eq "refused jobs: nothing sent" 0 "$(json_get "${dir}/sink.json" messages)"

# ---------------------------------------------------------------------------------------------
# 4. Formulas in the data. A spreadsheet runs a cell that starts with = + - @ (or tab, CR): the
# CSV files hayate writes must hold such fields as text ('=...), and the suppression export
# must import back to the same list.

# no_formula_cells FILE...: every field of every row, read as a spreadsheet reads CSV, is text.
no_formula_cells() {
  "${HAYATE_PYTHON}" - "$@" <<'PY'
import csv, sys
for path in sys.argv[1:]:
    with open(path, newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), 1):
            for field in row:
                if field[:1] in ("=", "+", "-", "@", "\t", "\r"):
                    sys.exit(f"{path}:{number}: field {field!r} would run as a formula")
print("ok no formula cells in " + " ".join(sys.argv[1:]))
PY
}

db="${dir}/formulas.db"
hyperlink='=HYPERLINK("http://evil.example/","click")'
run_measured "add formula address" suppress add '=1+2@example.test' --reason "${hyperlink}" \
  --db "${db}"
assert_eq "add formula address: exit" 0 "${HAYATE_EXIT}"
run_measured "add domain" suppress add '@evil.example' --reason '+cmd' --db "${db}"
assert_eq "add domain: exit" 0 "${HAYATE_EXIT}"
run_measured "add quoted" suppress add "'-q@example.test" --reason '-1' --db "${db}"
assert_eq "add quoted: exit" 0 "${HAYATE_EXIT}"
run_measured "export formulas" suppress export "${dir}/formulas.csv" --db "${db}"
assert_eq "export formulas: exit" 0 "${HAYATE_EXIT}"
export_text="$(cat "${dir}/formulas.csv")"
assert_contains "export: address guarded" "\"'=1+2@example.test\"" "${export_text}"
assert_contains "export: reason guarded" "\"'=HYPERLINK(\"\"http://evil.example/\"\"," \
  "${export_text}"
assert_contains "export: domain entry guarded" "\"'@evil.example\",\"'+cmd\"" "${export_text}"
assert_contains "export: a quote before a formula gets one more" "\"''-q@example.test\",\"'-1\"" \
  "${export_text}"
no_formula_cells "${dir}/formulas.csv"
HAYATE_PASSED=$((HAYATE_PASSED + 1))

# Round trip: imported into a new list and exported again, the same bytes and the same entries.
run_measured "import formulas" suppress import "${dir}/formulas.csv" --db "${dir}/copy.db"
assert_eq "import formulas: exit" 0 "${HAYATE_EXIT}"
run_measured "export copy" suppress export "${dir}/copy.csv" --db "${dir}/copy.db"
assert_eq "round trip: the same export" "$(cat "${dir}/formulas.csv")" "$(cat "${dir}/copy.csv")"
run_measured "list original" suppress list --json --db "${db}"
run_measured "list copy" suppress list --json --db "${dir}/copy.db"
"${HAYATE_PYTHON}" - "${dir}/list original.out" "${dir}/list copy.out" <<'PY' ||
import json, sys
def entries(path):
    return sorted((e["address"], e["reason"]) for e in map(json.loads, open(path)))
original, copy = entries(sys.argv[1]), entries(sys.argv[2])
if original != copy:
    sys.exit(f"import changed the list: {original} became {copy}")
want = {("=1+2@example.test", '=HYPERLINK("http://evil.example/","click")'),
        ("@evil.example", "+cmd"), ("'-q@example.test", "-1")}
if set(original) != want:
    sys.exit(f"list {original}, expected {sorted(want)}")
print("ok round trip: the same three entries, formulas and quotes as added")
PY
  fail "round trip: the imported list differs"
HAYATE_PASSED=$((HAYATE_PASSED + 1))

# A run whose recipients file holds formula-like addresses (valid ones, delivered, and a
# refused row): accounting.csv, rejects.csv and domains.csv hold them as text.
start_hayate_sink "${sink_port}" --stats-file "${dir}/sink-formulas.json"
rows=$'email,first_name\n=1+2@example.test,Eq\n-x@example.test,Dash\n'
rows+=$'"=cmd|\' /C calc\'!A0",Calc\nann@example.test,Ann'
write_campaign "${dir}/formulas" "${rows}" "${routes}"
run_measured "formula run" run "${dir}/formulas/job.toml" --out "${dir}/formulas/out"
assert_eq "formula run: exit" 0 "${HAYATE_EXIT}"
out="${dir}/formulas/out"
assert_eq "formula run: delivered" 3 "$(json_get "${out}/summary.json" delivered)"
assert_eq "formula run: rejected" 1 "$(json_get "${out}/summary.json" rejected)"
assert_contains "accounting.csv: address guarded" ",\"'=1+2@example.test\"," \
  "$(cat "${out}/accounting.csv")"
assert_contains "accounting.csv: dash guarded" ",\"'-x@example.test\"," \
  "$(cat "${out}/accounting.csv")"
assert_contains "rejects.csv: refused row guarded" ",\"'=cmd|' /C calc'!A0\"," \
  "$(cat "${out}/rejects.csv")"
no_formula_cells "${out}/accounting.csv" "${out}/rejects.csv" "${out}/domains.csv"
HAYATE_PASSED=$((HAYATE_PASSED + 1))
