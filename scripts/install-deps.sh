#!/usr/bin/env bash
# Installs the Debian 12 packages hayate needs to build, test and fuzz, and only those that are
# missing: quiet when all are there, one line per package installed otherwise. Safe for CI (no
# TTY, no stdin). Postfix is installed only for the tests (its smtp-sink, and private smtpd
# instances with their own config and queue dirs that lib.sh starts and stops): it is preseeded
# to "No configuration" so that no system MTA is configured, started or left listening on :25.
set -euo pipefail

readonly PACKAGES=(
  build-essential cmake ninja-build pkg-config
  liburing-dev libssl-dev libc-ares-dev libabsl-dev libmimalloc-dev libidn2-dev
  libtomlplusplus-dev libbenchmark-dev libgtest-dev
  # Shaping and bounce rules match reply texts with RE2 (linear time, no backtracking blow-up on
  # hostile server replies); the suppression list is an SQLite database (WAL, one file).
  libre2-dev libsqlite3-dev
  # Fuzzers: libFuzzer's runtime is only a Recommends of clang, and we install without those.
  # clang-format: scripts/test.sh checks that every source is formatted (.clang-format).
  clang libclang-rt-dev clang-format
  # Real third-party peers for tests/integration: Postfix (smtp-sink, smtpd with STARTTLS,
  # implicit TLS), dnsmasq, aiosmtpd (also SMTP AUTH); openssl makes the test CA and is a client.
  postfix dnsmasq-base python3-aiosmtpd python3-dkim python3-nacl openssl
  # status.json, runs.jsonl: written and read back with nlohmann's JSON (header-only).
  nlohmann-json3-dev
  # test_install.sh: renders the installed man pages (man -l, groff) and checks the logrotate
  # example with logrotate itself.
  man-db groff-base logrotate
)
# --with-browser (the tests): headless Chromium opens report.html; a font to draw its text.
readonly BROWSER_PACKAGES=(chromium fonts-dejavu-core)
# Seconds apt waits for the dpkg lock when someone else on the machine is installing.
readonly apt_lock_timeout_s=600

apt_log=""  # global: the EXIT trap reads it after main has returned

log() { printf 'install-deps: %s\n' "$*" >&2; }

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# Runs a command as root: directly when we are root, else through sudo. sudo -n never prompts,
# so CI without a TTY fails at once instead of hanging on a password.
as_root() {
  if [[ ${EUID} -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    if [[ -t 0 ]]; then sudo "$@"; else sudo -n "$@"; fi
  else
    log "not root and no sudo: cannot run '$*'"
    exit 69  # EX_UNAVAILABLE
  fi
}

# Prints the PIDs of running Postfix master processes (read from /proc: procps may be absent).
postfix_master_pids() {
  local dir comm exe
  for dir in /proc/[0-9]*; do
    comm="$(cat "${dir}/comm" 2>/dev/null || true)"
    [[ "${comm}" == "master" ]] || continue
    exe="$(readlink "${dir}/exe" 2>/dev/null || true)"
    [[ "${exe}" == */postfix/* ]] && printf '%s\n' "${dir#/proc/}"
  done
  return 0
}

port_25_listening() {
  (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null
}

# A freshly installed postfix must not run: our tests own the loopback ports, and a system MTA
# would accept mail that a misconfigured test sends to :25.
stop_system_postfix() {
  local pids deadline
  pids="$(postfix_master_pids)"
  [[ -n "${pids}" ]] || return 0
  log "postfix master is running (pid ${pids//$'\n'/ }): stopping it"
  as_root postfix stop >/dev/null 2>&1 || true
  deadline=$((SECONDS + 10))
  while [[ -n "$(postfix_master_pids)" ]] && ((SECONDS < deadline)); do sleep 0.1; done
  pids="$(postfix_master_pids)"
  if [[ -n "${pids}" ]]; then
    # shellcheck disable=SC2086  # one PID per word
    as_root kill -KILL ${pids} 2>/dev/null || true
  fi
  if [[ -n "$(postfix_master_pids)" ]]; then
    log "could not stop the postfix master process"
    exit 1
  fi
}

main() {
  local missing=() pkg wanted=("${PACKAGES[@]}")
  if [[ "${1:-}" == "--with-browser" ]]; then
    wanted+=("${BROWSER_PACKAGES[@]}")
  elif [[ $# -gt 0 ]]; then
    log "usage: install-deps.sh [--with-browser]"
    exit 64
  fi
  for pkg in "${wanted[@]}"; do
    is_installed "${pkg}" || missing+=("${pkg}")
  done
  if ((${#missing[@]} == 0)); then
    if [[ -n "$(postfix_master_pids)" ]]; then
      log "warning: a postfix master process is running; integration tests do not need it"
    fi
    return 0
  fi

  export DEBIAN_FRONTEND=noninteractive
  apt_log="$(mktemp "${TMPDIR:-/tmp}/install-deps.XXXXXX")"
  trap 'rm -f "${apt_log}"' EXIT

  # Preseed before postfix is unpacked: "No configuration" writes no main.cf and starts nothing.
  echo "postfix postfix/main_mailer_type select No configuration" |
    as_root debconf-set-selections

  local -a apt_options=(-y -q -o "DPkg::Lock::Timeout=${apt_lock_timeout_s}"
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" update \
      >"${apt_log}" 2>&1 </dev/null; then
    log "apt-get update failed:"
    tail -n 30 "${apt_log}" >&2
    exit 1
  fi
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" install \
      --no-install-recommends "${missing[@]}" >"${apt_log}" 2>&1 </dev/null; then
    log "apt-get install ${missing[*]} failed:"
    tail -n 30 "${apt_log}" >&2
    exit 1
  fi

  for pkg in "${missing[@]}"; do
    if ! is_installed "${pkg}"; then
      log "${pkg} is still not installed after apt-get install"
      exit 1
    fi
    printf 'installed %s %s\n' "${pkg}" "$(dpkg-query -W -f='${Version}' "${pkg}")"
  done

  stop_system_postfix
  if port_25_listening; then
    log "warning: something listens on 127.0.0.1:25 (not a postfix master); tests do not use it"
  fi
}

main "$@"
