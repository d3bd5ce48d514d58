#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A full disk under the output directory (a 1 MiB tmpfs this test mounts): the run stops
# sending, finishes what is in flight and ends (no hang); once there is room again, a rerun
# resumes and every recipient is delivered, none twice beyond the in-flight bound.
# Skips (exit 0 with a note) where mounting is not allowed.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
dir="${HAYATE_TEST_DIR}"
mkdir -p "${dir}/small" "${dir}/maildir"
if ! mount -t tmpfs -o size=1m tmpfs "${dir}/small" 2>/dev/null; then
  echo "test_disk_full: cannot mount a tmpfs here (needs root and mount rights): skipped"
  echo "test_disk_full: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
trap 'status=$?; umount "${dir}/small" 2>/dev/null || true; (exit "${status}"); _hayate_test_cleanup' EXIT
read -r port < <(free_port 1)
start_hayate_sink "${port}" --maildir "${dir}/maildir"
sink_pid="${HAYATE_LAST_PID}"
csv="email,first_name"
for i in $(seq 1 6000); do csv+=$'\n'"user${i}@f$((i % 20)).test,User number ${i} with a long name"; done
write_campaign "${dir}/c" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 2
[routes]
\"*\" = \"127.0.0.1:${port}\""

run_hayate full run "${dir}/c/job.toml" --out "${dir}/small/out" --no-progress
[[ "${HAYATE_EXIT}" == 75 || "${HAYATE_EXIT}" == 73 ]] ||
  fail "full disk: exit ${HAYATE_EXIT}, expected 75 or 73"
assert_eq "full disk: the run ended with a temporary or output failure" yes yes
assert_contains "full disk: says why" "finishing" "$(cat "${dir}/full.err")"
sent_first="$(find "${dir}/maildir/new" -type f | wc -l)"
((sent_first < 6000)) || fail "full disk: the run sent everything (${sent_first}) anyway"

# Room again: the output moves to a roomy disk and the same command resumes there.
cp -a "${dir}/small/out" "${dir}/out"
umount "${dir}/small"
run_hayate resume run "${dir}/c/job.toml" --out "${dir}/out" --no-progress
assert_eq "resume: exit" 0 "${HAYATE_EXIT}"
assert_eq "resume: delivered over all runs" 6000 "$(json_get "${dir}/out/summary.json" all_runs.delivered)"
stop_process "${sink_pid}"
"${HAYATE_PYTHON}" - "${dir}/maildir/new" <<'PY' || fail "Maildir check failed"
import collections, os, sys
seen = collections.Counter()
for name in os.listdir(sys.argv[1]):
    for line in open(os.path.join(sys.argv[1], name), "rb").read().split(b"\n\n", 1)[0].split(b"\n"):
        if line.lower().startswith(b"delivered-to:"):
            seen[line.split(b":", 1)[1].strip()] += 1
duplicates = sum(n - 1 for n in seen.values())
print(f"distinct {len(seen)}, duplicates {duplicates}")
# Sent but not yet on disk when it filled: at most the 10 ms commit window and the open
# transactions (2 connections x 20 domains here, spread over shards).
if len(seen) != 6000 or duplicates > 200:
    sys.exit(1)
PY
assert_eq "every recipient delivered; duplicates within the unsynced window" ok ok
