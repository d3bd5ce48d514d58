#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# cmake --install of this build into a fresh prefix: every file lands; the binaries run; each
# man page renders without a warning and documents every option its command's --help lists;
# the bash completion completes commands, options (every one --help lists) and files; the
# systemd units pass systemd-analyze verify; the logrotate example rotates a running
# campaign's logs and the run goes on into new ones, and signals no process that is not a run.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate_built="$(require_bin hayate)"
sink_built="$(require_bin hayate-sink)"
build_dir="$(cd "${HAYATE_BIN_DIR}/.." && pwd)"
dir="${HAYATE_TEST_DIR}"
prefix="${dir}/prefix"
pages=(hayate hayate-run hayate-check hayate-preview hayate-status hayate-report hayate-bounces
  hayate-suppress hayate-dkim hayate-sink)

cmake --install "${build_dir}" --prefix "${prefix}" >"${dir}/install.log" 2>&1 ||
  fail "cmake --install failed: $(tail -n 5 "${dir}/install.log")"
assert_eq "installed binaries" "hayate hayate-sink" "$(cd "${prefix}/bin" && echo *)"
expected=(share/bash-completion/completions/hayate share/bash-completion/completions/hayate-sink
  share/doc/hayate/examples/demo/job.toml share/doc/hayate/examples/demo/recipients.csv
  share/doc/hayate/examples/cron/hayate.cron share/doc/hayate/examples/logrotate/hayate
  "share/doc/hayate/examples/systemd/hayate-campaign@.service"
  "share/doc/hayate/examples/systemd/hayate-campaign@.timer")
for page in "${pages[@]}"; do expected+=("share/man/man1/${page}.1"); done
for file in "${expected[@]}"; do
  assert_eq "installed ${file}" yes "$([[ -s "${prefix}/${file}" ]] && echo yes || echo no)"
done
assert_eq "hayate --version" "$("${hayate_built}" --version)" "$("${prefix}/bin/hayate" --version)"
assert_eq "hayate-sink --version" "$("${sink_built}" --version)" \
  "$("${prefix}/bin/hayate-sink" --version)"
assert_contains "hayate-sink --version names it" "hayate-sink " "$("${sink_built}" --version)"

# help_options ARGS...: the long options a --help text lists, sorted, one a line.
help_options() {
  "${prefix}/bin/$1" "${@:2}" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u
}
# The commands whose --help a page and the completion must cover: page, then the command.
coverage=("hayate-run|hayate run" "hayate-check|hayate check" "hayate-preview|hayate preview"
  "hayate-status|hayate status" "hayate-report|hayate report" "hayate-dkim|hayate dkim keygen"
  "hayate-bounces|hayate bounces ingest" "hayate-bounces|hayate bounces listen"
  "hayate-suppress|hayate suppress" "hayate-sink|hayate-sink")

# Man pages: rendered without a warning, found by man through MANPATH, every option covered.
for page in "${pages[@]}"; do
  file="${prefix}/share/man/man1/${page}.1"
  if command -v groff >/dev/null; then
    assert_eq "groff -man -ww ${page}.1: warnings" "" "$(groff -man -Tutf8 -ww -z "${file}" 2>&1)"
  fi
  if command -v man >/dev/null; then
    warnings="$(MANWIDTH=100 man -l "${file}" 2>&1 >/dev/null)"
    assert_eq "man -l ${page}.1: warnings" "" "${warnings}"
    name_line="$(MANWIDTH=100 man -l "${file}" 2>/dev/null | sed 's/‐/-/g' | tr -s ' ' |
      grep -A1 '^NAME' | tail -n 1)"
    assert_contains "man -l ${page}.1: NAME" " ${page} - " "${name_line}"
    assert_eq "man -w ${page}" "${file}" "$(MANPATH="${prefix}/share/man" man -w "${page}")"
  fi
done
command -v groff >/dev/null || echo "groff is missing: pages not rendered (not counted)"
command -v man >/dev/null || echo "man is missing: man -l not run (not counted)"
for entry in "${coverage[@]}"; do
  page="${entry%%|*}"
  read -r -a command <<<"${entry#*|}"
  source_text="$(sed 's/\\-/-/g' "${prefix}/share/man/man1/${page}.1")"
  while read -r option; do
    assert_contains "${page}.1 documents ${command[*]} ${option}" "${option}" "${source_text}"
  done < <(help_options "${command[@]}")
done

# Bash completion, sourced as bash-completion would: complete -p, then COMP_WORDS simulated.
completion="${prefix}/share/bash-completion/completions/hayate"
# complete_words FUNCTION WORD...: the candidates FUNCTION gives for the words, the last one
# being completed, sorted on one line.
complete_words() {
  bash -c 'source "$1"; shift; fn="$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    "${fn}"; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ $//"' \
    _ "${completion}" "$@"
}
assert_eq "complete -p hayate" "complete -F _hayate hayate" \
  "$(bash -c 'source "$1"; complete -p hayate' _ "${completion}")"
assert_eq "complete -p hayate-sink" "complete -F _hayate_sink hayate-sink" \
  "$(bash -c 'source "$1"; complete -p hayate-sink' _ "${prefix}/share/bash-completion/completions/hayate-sink")"
assert_eq "complete: hayate st" status "$(complete_words _hayate hayate st)"
assert_eq "complete: hayate re" report "$(complete_words _hayate hayate re)"
assert_eq "complete: hayate bounces " "--help classify ingest listen" \
  "$(complete_words _hayate hayate bounces '')"
assert_eq "complete: hayate suppress im" import "$(complete_words _hayate hayate suppress im)"
assert_eq "complete: --algo" "ed25519 rsa" \
  "$(complete_words _hayate hayate dkim keygen --algo '')"
mkdir -p "${dir}/files/campaign.out"
touch "${dir}/files/job.toml"
assert_eq "complete: a job file" "${dir}/files/job.toml" \
  "$(complete_words _hayate hayate run "${dir}/files/jo")"
assert_eq "complete: status takes a directory" "${dir}/files/campaign.out" \
  "$(complete_words _hayate hayate status "${dir}/files/")"
for entry in "${coverage[@]}"; do
  read -r -a command <<<"${entry#*|}"
  fn=_hayate
  [[ "${command[0]}" != hayate-sink ]] || fn=_hayate_sink
  candidates=" $(complete_words "${fn}" "${command[@]}" -) "
  while read -r option; do
    assert_contains "complete: ${command[*]} - offers ${option}" " ${option} " "${candidates}"
  done < <(help_options "${command[@]}")
done

# systemd: the template and its timer, as an instance, with ExecStart in this prefix.
examples="${prefix}/share/doc/hayate/examples"
if command -v systemd-analyze >/dev/null; then
  mkdir -p "${dir}/units"
  sed "s|/usr/local/bin/hayate|${prefix}/bin/hayate|" "${examples}/systemd/hayate-campaign@.service" \
    >"${dir}/units/hayate-campaign@news.service"
  cp "${examples}/systemd/hayate-campaign@.timer" "${dir}/units/hayate-campaign@news.timer"
  set +e
  verify="$(MANPATH="${prefix}/share/man" systemd-analyze verify \
    "${dir}/units/hayate-campaign@news.service" "${dir}/units/hayate-campaign@news.timer" 2>&1)"
  code=$?
  set -e
  assert_eq "systemd-analyze verify: output" "" "${verify}"
  assert_eq "systemd-analyze verify: exit" 0 "${code}"
  assert_contains "the unit allows exit 75" "SuccessExitStatus=75" \
    "$(cat "${examples}/systemd/hayate-campaign@.service")"
  assert_eq "the unit sets no SystemCallFilter" 0 \
    "$(grep -c '^SystemCallFilter' "${examples}/systemd/hayate-campaign@.service" || true)"
else
  echo "systemd-analyze is missing: the units were not verified (not counted)"
fi
assert_contains "the cron line is quiet" "--quiet" "$(grep -v '^#' "${examples}/cron/hayate.cron")"

if ! command -v logrotate >/dev/null; then
  echo "logrotate is missing: the snippet was not checked (not counted); run scripts/install-deps.sh"
  exit 0
fi
# logrotate: the snippet with /var/lib/hayate moved here and su to whoever runs the test.
var="${dir}/var"
mkdir -p "${var}"
conf="${dir}/logrotate.conf"
sed -e "s|/var/lib/hayate|${var}|g" -e "s|^\( *\)su hayate hayate|\1su $(id -un) $(id -gn)|" \
  "${examples}/logrotate/hayate" >"${conf}"
chmod 0644 "${conf}"
set +e
debug="$(logrotate -d -s "${dir}/logrotate.state" "${conf}" 2>&1)"
code=$?
set -e
assert_eq "logrotate -d: exit" 0 "${code}"
assert_eq "logrotate -d: errors" "" "$(grep -i 'error' <<<"${debug}" || true)"
assert_contains "logrotate -d: reads the deliveries log" "${var}/*.out/deliveries.jsonl" "${debug}"

# A real rotation under a running campaign: 4 quick recipients, then slow ones (1 s a RCPT).
read -r port < <(free_port 1)
start_hayate_sink "${port}" --slow-ms 1000
csv="email,first_name"
for i in 1 2 3 4; do csv+=$'\n'"quick-${i}@q.test,Q${i}"; done
for i in $(seq 1 40); do csv+=$'\n'"slow-${i}@s.test,S${i}"; done
write_campaign "${dir}/news" "${csv}" "[delivery]
helo = \"client.hayate.test\"
connections_per_domain = 1
shards = 1
[routes]
\"*\" = \"127.0.0.1:${port}\""
out="${var}/news.out"
"${prefix}/bin/hayate" run "${dir}/news/job.toml" --out "${out}" --quiet 2>"${dir}/run.err" \
  </dev/null &
run_pid=$!
lines() { if [[ -f "$1" ]]; then wc -l <"$1"; else echo 0; fi; }
at_least() { (($(lines "$1") >= $2)) && echo yes || echo no; }
wait_until_eq "run: logged the quick recipients" yes 20 at_least "${out}/deliveries.jsonl" 4
assert_eq ".lock names the run" "${run_pid}" "$(head -n 1 "${out}/.lock")"
logrotate -f -s "${dir}/logrotate.state" "${conf}" 2>"${dir}/logrotate.err" ||
  fail "logrotate -f: $(cat "${dir}/logrotate.err")"
assert_eq "rotated: deliveries.jsonl.1" yes "$([[ -s "${out}/deliveries.jsonl.1" ]] && echo yes)"
wait_until_eq "after SIGHUP the run logs into a new deliveries.jsonl" yes 20 \
  at_least "${out}/deliveries.jsonl" 1
assert_eq "the run is still going" yes "$(process_alive "${run_pid}" && echo yes || echo no)"
kill -TERM "${run_pid}"
set +e
wait "${run_pid}"
code=$?
set -e
assert_eq "run: exit after SIGTERM (75, not killed by SIGHUP)" 75 "${code}"
assert_eq "rotated file plus new file: every outcome once" \
  "$(json_get "${out}/summary.json" all_runs.delivered)" \
  "$(cat "${out}/deliveries.jsonl.1" "${out}/deliveries.jsonl" | grep -c '"type":"delivered"')"

# The .lock stays after the run with its pid, which another process may get: postrotate must
# signal only a process that holds the lock file open. A stranger's pid in it is left alone.
_hayate_start "stranger" "${dir}/stranger.log" "${dir}/stranger.log" sleep 300
stranger="${HAYATE_LAST_PID}"
printf '%s\n' "${stranger}" >"${out}/.lock"
logrotate -f -s "${dir}/logrotate.state" "${conf}" 2>"${dir}/logrotate.err" ||
  fail "logrotate -f: $(cat "${dir}/logrotate.err")"
sleep 0.2
assert_eq "a pid in a lock nobody holds is not signalled" yes \
  "$(process_alive "${stranger}" && echo yes || echo no)"
