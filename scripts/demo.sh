#!/usr/bin/env bash
# One command for a fresh machine: installs what is missing, builds, starts the bundled sink
# on 127.0.0.1:2525 and sends the demo campaign (examples/demo) to it. Nothing leaves the host.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
bin=${HAYATE_BUILD_DIR:-$root/build}/bin
out=$(mktemp -d "${TMPDIR:-/tmp}/hayate-demo.XXXXXX")
# The demo keeps its suppression list and warm-up counts in its own folder: neither the
# checkout nor the host's store changes, and every demo run shows the same figures.
export HAYATE_STATE_DIR="$out/state"
"$bin/hayate-sink" --listen 127.0.0.1:2525 --stats-file "$out/sink-stats.json" \
  --pid-file "$out/sink.pid" 2>"$out/sink.log" &
sink_pid=$!
trap 'kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/2525) 2>/dev/null; then break; fi
  if ! kill -0 "$sink_pid" 2>/dev/null; then
    echo "demo: hayate-sink did not start (is port 2525 taken?):" >&2
    cat "$out/sink.log" >&2
    exit 1
  fi
  sleep 0.05
done
echo "== hayate check"
"$bin/hayate" check "$root/examples/demo/job.toml" || true
echo "== hayate preview --row 1"
"$bin/hayate" preview "$root/examples/demo/job.toml" --row 1
echo "== hayate run"
set +e
"$bin/hayate" run "$root/examples/demo/job.toml" --out "$out/run"
code=$?
set -e
echo "== exit code $code; outputs in $out/run:"
ls -l "$out/run"
cat "$out/run/summary.json"
echo "== rejected rows:"
cat "$out/run/rejects.csv"
echo "== the programs are in $bin/: hayate, hayate-sink (PATH=\"$bin:\$PATH\", or cmake --install)"
