#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The output directory as someone else may have prepared it: a symbolic link (to a file, or
# dangling), a hard link or a FIFO planted under the name of each file a run writes, the
# directory itself a link, the --metrics-file a link. The real hayate binary must refuse each
# with exit 73 and a message naming the file, before it sends anything, and leave the link's
# target as it was (never truncated, appended to, or created). A clean run's files holding
# addresses are the owner's only (0600); the metrics file stays readable (0644).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
require_bin hayate-sink >/dev/null
read -r sink_port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
umask 022  # what cron gives: new files would be 0644 unless hayate asks for less

start_hayate_sink "${sink_port}" --stats-file "${dir}/sink.json"
sink_pid="${HAYATE_LAST_PID}"
rows=$'email,first_name\nann@example.test,Ann\nbob@example.test,Bob\nnot-an-address,Eve'
write_campaign "${dir}/campaign" "${rows}" "[delivery]
helo = \"client.hayate.test\"
[routes]
\"*\" = \"127.0.0.1:${sink_port}\""
job="${dir}/campaign/job.toml"

# run_bounded NAME ARGS...: hayate ARGS, killed if it hangs (SIGKILL after SIGTERM: a run blocks
# SIGTERM in every thread but its monitor); stderr in dir/NAME.err, the code in HAYATE_EXIT.
run_bounded() {
  local name="$1"
  shift
  set +e
  timeout --kill-after=5 60 "${hayate}" "$@" >"${dir}/${name}.out" 2>"${dir}/${name}.err" \
    </dev/null
  HAYATE_EXIT=$?
  set -e
  sed "s/^/  ${name}: /" "${dir}/${name}.err" >&2
  ((HAYATE_EXIT != 124 && HAYATE_EXIT != 137)) || fail "${name}: hayate $* hung"
}

# A file outside the output directory that a planted link points at.
precious="${dir}/precious"
precious_text='root:x:0:0:root:/root:/bin/bash'
reset_precious() { printf '%s\n' "${precious_text}" >"${precious}"; }
assert_precious() {
  assert_eq "$1: the link's target is untouched" "${precious_text}" "$(cat "${precious}")"
}

# ---------------------------------------------------------------------------------------------
# 1. A symbolic link planted under each name a run writes: 73, the name in the message, the
# target untouched, nothing sent.
for name in .lock journal.bin deliveries.jsonl accounting.csv rejects.csv shaping.jsonl \
  summary.json domains.csv; do
  out="${dir}/link-${name#.}"
  mkdir -p "${out}"
  reset_precious
  ln -s "${precious}" "${out}/${name}"
  run_bounded "link ${name}" run "${job}" --out "${out}"
  assert_eq "link ${name}: exit" 73 "${HAYATE_EXIT}"
  assert_contains "link ${name}: stderr" "${out}/${name} is a symbolic link" \
    "$(cat "${dir}/link ${name}.err")"
  assert_precious "link ${name}"
  [[ -L "${out}/${name}" ]] || fail "link ${name}: the link itself was replaced"
done

# A dangling link: the file it names is never created.
out="${dir}/dangling"
mkdir -p "${out}"
ln -s "${dir}/created-by-hayate" "${out}/deliveries.jsonl"
run_bounded "dangling link" run "${job}" --out "${out}"
assert_eq "dangling link: exit" 73 "${HAYATE_EXIT}"
[[ ! -e "${dir}/created-by-hayate" ]] || fail "dangling link: hayate created its target"
HAYATE_PASSED=$((HAYATE_PASSED + 1))

# A hard link to a file elsewhere (rejects.csv is rewritten with every run): refused before
# anything is truncated.
out="${dir}/hard-link"
mkdir -p "${out}"
reset_precious
ln "${precious}" "${out}/rejects.csv"
run_bounded "hard link" run "${job}" --out "${out}"
assert_eq "hard link: exit" 73 "${HAYATE_EXIT}"
assert_contains "hard link: stderr" "${out}/rejects.csv has 2 hard links" \
  "$(cat "${dir}/hard link.err")"
assert_precious "hard link"

# A FIFO as a log: refused at once, not waited on for a reader.
out="${dir}/fifo"
mkdir -p "${out}"
mkfifo "${out}/accounting.csv"
run_bounded "fifo" run "${job}" --out "${out}"
assert_eq "fifo: exit" 73 "${HAYATE_EXIT}"
assert_contains "fifo: stderr" "${out}/accounting.csv is a FIFO" "$(cat "${dir}/fifo.err")"

# The output directory itself a link: its files must land where the operator said.
mkdir -p "${dir}/elsewhere"
ln -s "${dir}/elsewhere" "${dir}/out-link"
run_bounded "directory link" run "${job}" --out "${dir}/out-link"
assert_eq "directory link: exit" 73 "${HAYATE_EXIT}"
assert_contains "directory link: stderr" "${dir}/out-link is a symbolic link" \
  "$(cat "${dir}/directory link.err")"
assert_eq "directory link: nothing written there" "" "$(ls -A "${dir}/elsewhere")"

# --metrics-file a link: refused before sending, the target untouched.
reset_precious
ln -s "${precious}" "${dir}/linked.prom"
run_bounded "metrics link" run "${job}" --out "${dir}/metrics-link" \
  --metrics-file "${dir}/linked.prom"
assert_eq "metrics link: exit" 73 "${HAYATE_EXIT}"
assert_contains "metrics link: stderr" "${dir}/linked.prom is a symbolic link" \
  "$(cat "${dir}/metrics link.err")"
assert_precious "metrics link"

stop_process "${sink_pid}"
assert_eq "refused runs: nothing sent" 0 "$(json_get "${dir}/sink.json" messages)"

# ---------------------------------------------------------------------------------------------
# 2. A clean run: the files that hold addresses are 0600 despite umask 022; the metrics file,
# read by a collector that seldom runs as the sender, 0644. No temporary file is left behind.
start_hayate_sink "${sink_port}" --stats-file "${dir}/sink-clean.json"
out="${dir}/clean"
run_bounded "clean run" run "${job}" --out "${out}" --metrics-file "${dir}/hayate.prom"
assert_eq "clean run: exit" 0 "${HAYATE_EXIT}"
assert_eq "clean run: delivered" 2 "$(json_get "${out}/summary.json" delivered)"
for name in journal.bin deliveries.jsonl accounting.csv rejects.csv shaping.jsonl summary.json \
  domains.csv; do
  assert_eq "clean run: mode of ${name}" 600 "$(stat -c %a "${out}/${name}")"
done
assert_eq "clean run: mode of the metrics file" 644 "$(stat -c %a "${dir}/hayate.prom")"
assert_eq "clean run: no temporary files" "" \
  "$(find "${out}" "${dir}" -maxdepth 1 -name '*.tmp' -print)"

# A link planted in the finished directory before the next run: the resumed run refuses it too.
reset_precious
ln -s "${precious}" "${out}/domains.csv.new"  # a stray link under another name is harmless
rm "${out}/summary.json"
ln -s "${precious}" "${out}/summary.json"
run_bounded "resume with a link" run "${job}" --out "${out}"
assert_eq "resume with a link: exit" 73 "${HAYATE_EXIT}"
assert_contains "resume with a link: stderr" "${out}/summary.json is a symbolic link" \
  "$(cat "${dir}/resume with a link.err")"
assert_precious "resume with a link"

# ---------------------------------------------------------------------------------------------
# 3. suppress export: the list's addresses in a file of the owner's only, never written
# through a link planted at the target or at the old fixed temporary name.
db="${dir}/suppression.db"
run_bounded "suppress add" suppress add carol@example.test --reason "asked" --db "${db}"
assert_eq "suppress add: exit" 0 "${HAYATE_EXIT}"
run_bounded "export" suppress export "${dir}/export.csv" --db "${db}"
assert_eq "export: exit" 0 "${HAYATE_EXIT}"
assert_eq "export: mode" 600 "$(stat -c %a "${dir}/export.csv")"
assert_contains "export: the entry" "carol@example.test,asked,manual" "$(cat "${dir}/export.csv")"

reset_precious
ln -s "${precious}" "${dir}/linked-export.csv"
run_bounded "export to a link" suppress export "${dir}/linked-export.csv" --db "${db}"
assert_eq "export to a link: exit" 73 "${HAYATE_EXIT}"
assert_contains "export to a link: stderr" "${dir}/linked-export.csv is a symbolic link" \
  "$(cat "${dir}/export to a link.err")"
assert_precious "export to a link"

reset_precious
ln -s "${precious}" "${dir}/export.csv.tmp"
run_bounded "export beside a planted .tmp" suppress export "${dir}/export.csv" --db "${db}"
assert_eq "export beside a planted .tmp: exit" 0 "${HAYATE_EXIT}"
assert_precious "export beside a planted .tmp"
