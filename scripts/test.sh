#!/usr/bin/env bash
# One command for the whole test suite: installs what is missing, builds with warnings as
# errors, runs the unit tests and the integration tests against real servers on loopback, then
# runs the unit tests and the fuzz corpus replays again under ASan+UBSan.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh" --with-browser
# The house style, checked before anything is built: every source clang-formatted, and no
# function longer than 120 lines (STYLE.md 7).
bash "$root/scripts/format.sh" --check
python3 "$root/scripts/function_lengths.py" "$root/engine" "$root/campaign" "$root/tools"
export HAYATE_BUILD_DIR=${HAYATE_BUILD_DIR:-$root/build}
bash "$root/scripts/build.sh" -DHAYATE_WERROR=ON
cd "$HAYATE_BUILD_DIR"
ctest --output-on-failure --timeout 300 -j "$(nproc)"

# Sanitizer pass (STYLE.md 7: ASan+UBSan in one CI build). Only the unit test binaries and the
# fuzz replays are built, at -O1 -g: fast to compile, still fast to run, exact stacks. Not the
# integration scripts (real peers and timing, already run above), benchmarks or tools.
# Clang, not GCC: the reference ASan/UBSan, and 2.6 times faster to compile here (dns_test.cc
# with -O1 -g -fsanitize=address,undefined: 16 s against 42 s for GCC 12, whose UBSan at -O1 is
# the cost), which keeps this pass near 3 minutes on two cores instead of 11.
# Debug keeps assert() on in headers we include; no -Werror here: warnings are the first
# build's job.
asan_dir="${HAYATE_BUILD_DIR}-asan"
cmake -S "$root" -B "$asan_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DHAYATE_SANITIZE=ON >/dev/null
asan_targets=()
for source in "$root"/tests/unit/*_test.cc; do asan_targets+=("$(basename "$source" .cc)"); done
for source in "$root"/tests/fuzz/*_fuzz.cc; do
  asan_targets+=("$(basename "$source" .cc)_replay")
done
cmake --build "$asan_dir" -j "$(nproc)" --target "${asan_targets[@]}"
cd "$asan_dir"
# Every test but the integration scripts: the GoogleTest cases (registered by name when their
# binary is built) and fuzz_replay.NAME. Any report fails the test: ASan aborts, UBSan halts,
# LeakSanitizer checks at exit (it works in this sandbox; no ptrace restriction met).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --output-on-failure --timeout 300 -j "$(nproc)" -E '^integration\.'
