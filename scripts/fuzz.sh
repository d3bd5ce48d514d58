#!/usr/bin/env bash
# Coverage-guided fuzzing of every tests/fuzz/NAME_fuzz.cc with libFuzzer (clang): builds each
# NAME_fuzzer with ASan+UBSan, runs it SECONDS on its seed corpus, two targets at a time, and
# prints one line per target. Usage: scripts/fuzz.sh [SECONDS] (default 600 per target).
#
# The seed corpora (tests/fuzz/corpus/NAME) are only read; inputs the fuzzer finds go to
# RESULTS/NAME/corpus and crashes, leaks, timeouts and OOMs to RESULTS/NAME/crashes, where
# RESULTS is $HAYATE_FUZZ_RESULTS or BUILD/fuzz-results/DATE. To keep a crash found, copy its
# file into the seed corpus: ctest replays every seed file (fuzz_replay.NAME).
# Environment: HAYATE_FUZZ_BUILD_DIR (default build-fuzz), HAYATE_FUZZ_JOBS (targets at once,
# default 2), HAYATE_FUZZ_TARGETS (names, space-separated; default all).
# Exit status: 0 when no target found anything, 1 when one did, 64 on a usage error.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-600}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 64; }
build_dir=${HAYATE_FUZZ_BUILD_DIR:-$root/build-fuzz}
results=${HAYATE_FUZZ_RESULTS:-$build_dir/fuzz-results/$(date +%Y%m%d-%H%M%S)}
jobs=${HAYATE_FUZZ_JOBS:-2}
# libFuzzer's limits: a process above 2 GB or an input slower than timeout_s counts as a
# finding (oom-*, timeout-*): parsers are linear, so seconds on one input is a bug.
readonly rss_limit_mb=2048
readonly timeout_s=25

if [[ -n ${HAYATE_FUZZ_TARGETS:-} ]]; then
  read -r -a names <<<"$HAYATE_FUZZ_TARGETS"
else
  names=()
  for source in "$root"/tests/fuzz/*_fuzz.cc; do
    name=$(basename "$source" _fuzz.cc)
    names+=("$name")
  done
fi
((${#names[@]} > 0)) || { echo "fuzz: no targets in tests/fuzz" >&2; exit 64; }

# Every library compiled with -fsanitize=fuzzer-no-link, not only the harness: the HAYATE_FUZZ
# option instruments the NAME_fuzzer sources alone, and without edge counters in the parsers
# libFuzzer would mutate blind. -fno-sanitize-recover: UBSan aborts, so libFuzzer keeps the
# input as a crash instead of printing a report and going on.
CC=clang CXX=clang++ cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHAYATE_FUZZ=ON -DHAYATE_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" >/dev/null
targets=()
for name in "${names[@]}"; do targets+=("${name}_fuzzer"); done
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"

mkdir -p "$results"
echo "fuzz: ${#names[@]} targets, ${seconds} s each, ${jobs} at a time; results in $results" >&2

# fuzz_one NAME: runs NAME_fuzzer; its log is RESULTS/NAME/fuzz.log.
fuzz_one() {
  local name=$1 dir="$results/$1"
  mkdir -p "$dir/corpus" "$dir/crashes"
  local seeds="$root/tests/fuzz/corpus/$name" code=0
  [[ -d $seeds ]] || seeds=""
  # First corpus dir: where new inputs are written; the seed dir after it is only read.
  # ASan's defaults plus what turns a hidden bug into a crash.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1:strict_string_checks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "$build_dir/bin/${name}_fuzzer" -max_total_time="$seconds" -rss_limit_mb="$rss_limit_mb" \
      -timeout="$timeout_s" -print_final_stats=1 -artifact_prefix="$dir/crashes/" \
      "$dir/corpus" ${seeds:+"$seeds"} >"$dir/fuzz.log" 2>&1 || code=$?
  echo "$code" >"$dir/exit_code"
}

running=0
for name in "${names[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$name" &
  running=$((running + 1))
done
wait || true

# One line per target: executions, coverage (edges: cov, features: ft) at the end, corpus
# size, inputs added, speed, peak RSS, findings.
status=0
printf '%-14s %12s %7s %8s %7s %7s %9s %8s %s\n' target runs cov ft corpus new exec/s rss_mb \
  crashes
for name in "${names[@]}"; do
  dir="$results/$name"
  log="$dir/fuzz.log"
  final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  # The last status line, "#N DONE cov: X ft: Y corp: Z/..." or the last before a crash.
  last=$(grep -E '^#[0-9]+' "$log" | grep ' cov: ' | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
  crashes=$(find "$dir/crashes" -type f \( -name 'crash-*' -o -name 'leak-*' -o \
    -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  code=$(cat "$dir/exit_code" 2>/dev/null || echo "?")
  note=""
  if ((crashes > 0)); then
    note=" ($(find "$dir/crashes" -type f -printf '%f ' | head -c 200))"
    status=1
  elif [[ $code != 0 ]]; then
    note=" (exit $code, no artifact: see $log)"
    status=1
  fi
  printf '%-14s %12s %7s %8s %7s %7s %9s %8s %s%s\n' "$name" \
    "$(final_stat number_of_executed_units)" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
    "$(final_stat new_units_added)" "$(final_stat average_exec_per_sec)" \
    "$(final_stat peak_rss_mb)" "$crashes" "$note"
done
echo "fuzz: logs, new inputs and crashes in $results" >&2
exit "$status"
