#!/usr/bin/env bash
# One command for the whole test suite: installs what is missing, builds with warnings as
# errors, runs the unit tests and the integration tests against real servers on loopback.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"
export HAYATE_BUILD_DIR=${HAYATE_BUILD_DIR:-$root/build}
bash "$root/scripts/build.sh" -DHAYATE_WERROR=ON
cd "$HAYATE_BUILD_DIR"
ctest --output-on-failure --timeout 300 -j "$(nproc)"
