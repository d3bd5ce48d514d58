#!/usr/bin/env bash
# STARTTLS against plaintext, same server, same run: hayate sends N messages to a private
# Postfix smtpd (discard transport) on loopback, once without TLS and once with STARTTLS, and
# prints msgs/s, hayate's CPU seconds, TLS handshakes and resumptions, and the ratios.
# Usage: bench/tls_e2e.sh [N] (default 5000). Postfix's own queue bounds the rate; the ratio
# is what this measures. Needs a built tree and root (Postfix's master runs as root).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
count=${1:-5000}
# shellcheck source=../tests/integration/lib.sh
source "$root/tests/integration/lib.sh"
hayate_test_init "${HAYATE_BUILD_DIR:-$root/build}/bin"
require_bin hayate >/dev/null
make_test_pki
read -r plain_port tls_port < <(free_port 2)
start_postfix_smtpd "$plain_port" plain --set 'default_process_limit = 200' >/dev/null
start_postfix_smtpd "$tls_port" may --set 'default_process_limit = 200' >/dev/null
csv="email,first_name"
for ((i = 0; i < count; i++)); do csv+=$'\n'"user${i}@d$((i % 100)).example,Name ${i}"; done

declare -A rate
printf 'mode\tmessages\tseconds\tmsgs_per_s\thayate_cpu_s\ttls_handshakes\ttls_resumptions\n'
for mode in plain starttls; do
  port=$plain_port tls=disabled
  [[ $mode == starttls ]] && port=$tls_port tls=opportunistic
  write_campaign "$HAYATE_TEST_DIR/$mode" "$csv" "[delivery]
helo = \"bench.example.com\"
tls = \"$tls\"
connections_per_domain = 20
messages_per_connection = 100
[routes]
\"*\" = \"127.0.0.1:$port\""
  /usr/bin/time -o "$HAYATE_TEST_DIR/$mode.time" -f '%e %U %S' \
    "$HAYATE_BIN_DIR/hayate" run "$HAYATE_TEST_DIR/$mode/job.toml" \
    --out "$HAYATE_TEST_DIR/$mode/out" --quiet
  read -r seconds user system <"$HAYATE_TEST_DIR/$mode.time"
  summary="$HAYATE_TEST_DIR/$mode/out/summary.json"
  [[ $(json_get "$summary" delivered) == "$count" ]] || echo "tls_e2e: $mode delivered $(json_get "$summary" delivered) of $count" >&2
  rate[$mode]=$(awk -v n="$count" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')
  printf '%s\t%s\t%s\t%s\t%.2f\t%s\t%s\n' "$mode" "$count" "$seconds" "${rate[$mode]}" \
    "$(awk -v u="$user" -v s="$system" 'BEGIN { print u + s }')" \
    "$(json_get "$summary" tls_handshakes)" "$(json_get "$summary" tls_resumptions)"
done
printf 'ratio\tstarttls/plain msgs/s\t%s\n' \
  "$(awk -v a="${rate[starttls]}" -v b="${rate[plain]}" 'BEGIN { printf "%.2f", a / b }')"
