#!/usr/bin/env bash
# Formats every C++ source of the tree with clang-format (.clang-format at the root); with
# --check, changes nothing and fails on the first file that is not formatted (what
# scripts/test.sh runs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mapfile -t sources < <(git ls-files -- '*.cc' '*.h')
if [[ ${1:-} == --check ]]; then
  clang-format --dry-run --Werror "${sources[@]}"
else
  clang-format -i "${sources[@]}"
fi
