#!/usr/bin/env bash
# Benchmark: hayate's whole DKIM signing of a 3 KB message (parse, canonicalize, hash, sign,
# fold) against `openssl speed`, which times only the private-key operation on a short input.
# Prints each rate and the ratio hayate / openssl (the goal is >= 0.8: the key operation should
# dominate). Both measure CPU time of one thread, so other load on the machine matters less.
# It is not a test and never fails on a number.
# Usage: bench/dkim_vs_openssl.sh BIN_DIR [SECONDS]
set -euo pipefail

BIN_DIR=${1:?usage: dkim_vs_openssl.sh BIN_DIR [SECONDS]}
SECONDS_PER_RUN=${2:-3}
BENCHMARKS="$BIN_DIR/hayate_benchmarks"
PYTHON=/usr/bin/python3

for tool in "$BENCHMARKS" "$PYTHON"; do
  [[ -x "$tool" ]] || { echo "missing $tool" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "missing openssl" >&2; exit 1; }

# items_per_second (signatures per CPU second) of one Google Benchmark.
hayate_rate() {
  "$BENCHMARKS" --benchmark_filter="^$1\$" --benchmark_min_time="$SECONDS_PER_RUN" \
    --benchmark_format=json 2>/dev/null |
    "$PYTHON" -c 'import json, sys
print("%.1f" % json.load(sys.stdin)["benchmarks"][0]["items_per_second"])'
}

# sign/s from `openssl speed` (its human-readable table: "rsa 2048 bits ... sign/s verify/s",
# "253 bits EdDSA (Ed25519) ... sign/s verify/s"); openssl divides by user CPU time.
openssl_rate() {
  openssl speed -seconds "$SECONDS_PER_RUN" "$1" 2>/dev/null |
    awk -v algorithm="$1" '
      algorithm == "rsa2048" && /^rsa 2048 bits/ { print $6 }
      algorithm == "ed25519" && /EdDSA \(Ed25519\)/ { print $(NF - 1) }'
}

echo "$(openssl version); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %18s %18s %8s\n' algorithm "hayate signs/s" "openssl signs/s" ratio
for pair in "rsa2048 BM_DkimSignRsa2048" "ed25519 BM_DkimSignEd25519"; do
  read -r algorithm benchmark <<<"$pair"
  hayate=$(hayate_rate "$benchmark")
  openssl=$(openssl_rate "$algorithm")
  ratio=$(awk -v a="$hayate" -v b="$openssl" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  printf '%-10s %18s %18s %8s\n' "$algorithm" "$hayate" "$openssl" "$ratio"
done
