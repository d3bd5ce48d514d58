#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `hayate check`'s deliverability pre-flight against a dnsmasq on loopback: DKIM keys made by
# `hayate dkim keygen` published as their records (the RSA one split into two strings), a key
# that does not match its record, a From domain without DMARC, an SPF record (through an
# include) that authorizes one [[sources]] address and not another, and a DNS server that
# refuses; exact warnings, and exit codes with and without --strict and --no-preflight.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(require_bin hayate)"
dir="${HAYATE_TEST_DIR}"
read -r dns_port closed_port < <(free_port 2)

mkdir -p "${dir}/keys"
"${hayate}" dkim keygen --domain example.com --selector s1 --key "${dir}/keys/s1.pem" \
  >"${dir}/s1.txt" 2>/dev/null
"${hayate}" dkim keygen --domain example.com --selector e1 --algo ed25519 \
  --key "${dir}/keys/e1.pem" >"${dir}/e1.txt" 2>/dev/null
"${hayate}" dkim keygen --domain example.com --selector other --key "${dir}/keys/other.pem" \
  >"${dir}/other.txt" 2>/dev/null
"${hayate}" dkim keygen --domain example.com --selector w1 --key "${dir}/keys/w1.pem" \
  >/dev/null 2>&1

# txt_record NAME FILE: a dnsmasq --txt-record with the strings of the zone line keygen wrote.
txt_record() {
  printf -- '--txt-record=%s,%s' "$1" "$(grep -o '"[^"]*"' "$2" | tr -d '"' | paste -sd, -)"
}
assert_eq "the RSA record is split into strings" 2 "$(grep -o '"[^"]*"' "${dir}/s1.txt" | wc -l)"

# example.com: both keys, DMARC, SPF through an include, an MX. example.org: the RSA key, SPF
# and an MX, but no DMARC. w1 publishes the key of "other". mta1 and mta2 pass FCrDNS.
start_dnsmasq "${dns_port}" --local=/example.com/ --local=/example.org/ \
  --local=/0.0.127.in-addr.arpa/ \
  "$(txt_record s1._domainkey.example.com "${dir}/s1.txt")" \
  "$(txt_record e1._domainkey.example.com "${dir}/e1.txt")" \
  "$(txt_record w1._domainkey.example.com "${dir}/other.txt")" \
  "$(txt_record s1._domainkey.example.org "${dir}/s1.txt")" \
  '--txt-record=_dmarc.example.com,v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com' \
  '--txt-record=example.com,v=spf1 include:_spf.example.com -all' \
  '--txt-record=_spf.example.com,v=spf1 ip4:127.0.0.2 -all' \
  '--txt-record=example.org,v=spf1 ip4:127.0.0.2 -all' \
  --mx-host=example.com,mx.example.com,10 --mx-host=example.org,mx.example.com,10 \
  --host-record=mx.example.com,127.0.0.1 \
  --host-record=mta1.example.com,127.0.0.2 --host-record=mta2.example.com,127.0.0.3 \
  --ptr-record=2.0.0.127.in-addr.arpa,mta1.example.com \
  --ptr-record=3.0.0.127.in-addr.arpa,mta2.example.com

csv=$'email,first_name\nann@example.net,Ann'
# job NAME FROM DNS_PORT SOURCES DKIM...: a campaign in ${dir}/NAME; each DKIM is DOMAIN:SELECTOR.
job() {
  local name="$1" from="$2" port="$3" sources="$4" tail="" spec
  shift 4
  tail+='list_unsubscribe = "https://example.com/unsubscribe?e={{email}}"'$'\n'
  tail+="[dns]"$'\n'"servers = [\"127.0.0.1:${port}\"]"$'\n'
  for source in ${sources}; do
    tail+="[[sources]]"$'\n'"name = \"${source}\""$'\n'
    tail+="address = \"127.0.0.$((${source#mta} + 1))\""$'\n'"ehlo = \"${source}.example.com\""$'\n'
  done
  for spec in "$@"; do
    tail+="[[dkim]]"$'\n'"domain = \"${spec%%:*}\""$'\n'"selector = \"${spec##*:}\""$'\n'
    tail+="key = \"../keys/${spec##*:}.pem\""$'\n'
  done
  write_campaign "${dir}/${name}" "${csv}" "${tail}"
  sed -i "s/^from = .*/from = \"News <${from}>\"/" "${dir}/${name}/job.toml"
}
preflight_lines() {  # FILE: the pre-flight's lines of a check's stdout
  grep -E '^(dkim|spf|dmarc|bounce domain|list-unsubscribe)[ :]' "$1" || true
}

# All well: both keys match (the RSA record from two strings), SPF passes through the include.
job good news@example.com "${dns_port}" mta1 example.com:s1 example.com:e1
run_hayate good check --strict "${dir}/good/job.toml"
assert_eq "good: exit code under --strict" 0 "${HAYATE_EXIT}"
assert_eq "good: no warning" "" "$(cat "${dir}/good.err")"
assert_eq "good: report" "dkim s1._domainkey.example.com: the published rsa key matches ${dir}/good/../keys/s1.pem
dkim e1._domainkey.example.com: the published ed25519 key matches ${dir}/good/../keys/e1.pem
spf example.com: authorizes [[sources]] mta1 (127.0.0.2): include:_spf.example.com in example.com
dmarc example.com: _dmarc.example.com: p=quarantine sp=quarantine adkim=r aspf=r
dmarc example.com: mail aligns (RFC 7489 3.1): DKIM d=example.com; SPF of example.com passes for every source
bounce domain example.com: MX mx.example.com
list-unsubscribe: one-click (RFC 8058): an https URI with List-Unsubscribe-Post, signed by DKIM" \
  "$(preflight_lines "${dir}/good.out")"

# A key that does not match its record: a warning, exit 0; 65 under --strict.
job wrong news@example.com "${dns_port}" mta1 example.com:w1
wrong_warning="hayate: warning: dkim w1._domainkey.example.com: the published key does not match ${dir}/wrong/../keys/w1.pem"
run_hayate wrong check "${dir}/wrong/job.toml"
assert_eq "wrong key: exit code" 0 "${HAYATE_EXIT}"
assert_eq "wrong key: warning" "${wrong_warning}" "$(cat "${dir}/wrong.err")"
run_hayate wrong-strict check --strict "${dir}/wrong/job.toml"
assert_eq "wrong key: exit code under --strict" 65 "${HAYATE_EXIT}"
assert_eq "wrong key: warning under --strict" "${wrong_warning}" "$(cat "${dir}/wrong-strict.err")"
run_hayate wrong-skipped check --strict --no-preflight "${dir}/wrong/job.toml"
assert_eq "wrong key: --no-preflight exit code" 0 "${HAYATE_EXIT}"
assert_eq "wrong key: --no-preflight output" "" "$(preflight_lines "${dir}/wrong-skipped.out")"

# No DMARC record at the From domain (example.org is its own organizational domain).
job nodmarc news@example.org "${dns_port}" mta1 example.org:s1
run_hayate nodmarc check "${dir}/nodmarc/job.toml"
assert_eq "no DMARC: exit code" 0 "${HAYATE_EXIT}"
assert_eq "no DMARC: warning" "hayate: warning: dmarc example.org: no DMARC record at _dmarc.example.org: large mailbox providers require one of bulk senders (p=none at least)" \
  "$(cat "${dir}/nodmarc.err")"
assert_contains "no DMARC: DKIM still aligns" \
  "dmarc example.org: mail aligns (RFC 7489 3.1): DKIM d=example.org; SPF of example.org passes for every source" \
  "$(cat "${dir}/nodmarc.out")"
run_hayate nodmarc-strict check --strict "${dir}/nodmarc/job.toml"
assert_eq "no DMARC: exit code under --strict" 65 "${HAYATE_EXIT}"

# SPF authorizes mta1 (127.0.0.2) and not mta2 (127.0.0.3).
job spf news@example.com "${dns_port}" "mta1 mta2" example.com:s1
run_hayate spf check "${dir}/spf/job.toml"
assert_eq "SPF: exit code" 0 "${HAYATE_EXIT}"
assert_eq "SPF: warning" "hayate: warning: spf example.com: does not authorize [[sources]] mta2 (127.0.0.3): fail (-all in example.com)" \
  "$(cat "${dir}/spf.err")"
assert_contains "SPF: mta1 authorized" \
  "spf example.com: authorizes [[sources]] mta1 (127.0.0.2): include:_spf.example.com in example.com" \
  "$(cat "${dir}/spf.out")"
run_hayate spf-strict check --strict "${dir}/spf/job.toml"
assert_eq "SPF: exit code under --strict" 65 "${HAYATE_EXIT}"

# A DNS server that refuses: nothing learnt, 75 under --strict (FCrDNS says the same).
job refused news@example.com "${closed_port}" mta1 example.com:s1
run_hayate refused check --strict "${dir}/refused/job.toml"
assert_eq "refused DNS: exit code under --strict" 75 "${HAYATE_EXIT}"
# c-ares may call the first question's failure a timeout (its first try waits 1 s).
assert_contains "refused DNS: DKIM unknown" \
  "hayate: warning: dkim s1._domainkey.example.com: could not look up the key record: " \
  "$(cat "${dir}/refused.err")"
assert_contains "refused DNS: bounce MX unknown" \
  "hayate: warning: bounce domain example.com: could not look up the MX: connection refused" \
  "$(cat "${dir}/refused.err")"
run_hayate refused-lenient check "${dir}/refused/job.toml"
assert_eq "refused DNS: exit code" 0 "${HAYATE_EXIT}"

