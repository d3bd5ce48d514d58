# shellcheck shell=bash
# Library sourced by tests/integration/test_*.sh: a private work dir, free loopback ports, and
# real peers (Postfix smtp-sink, dnsmasq, aiosmtpd, hayate-sink) started, awaited with a
# deadline and always stopped on exit. Usage, in a test run as `bash test_X.sh BIN_DIR`:
#
#   set -euo pipefail
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   hayate_test_init "$@"
#   read -r smtp_port dns_port < <(free_port 2)
#   start_smtp_sink "${smtp_port}"
#   start_dnsmasq "${dns_port}" --mx-host=example.test,mx.example.test,10
#   ... run "${HAYATE_BIN_DIR}/hayate" ...
#   wait_until_eq "sink messages" 3 10 smtp_sink_messages "${smtp_port}"
#
# Start functions record the PID in the test shell, so call them directly, never inside $(...).
# Do not set another EXIT trap: hayate_test_init owns it (it stops every peer).
# Everything listens on and talks to 127.0.0.1 only.

[[ -z "${_HAYATE_LIB_LOADED:-}" ]] || return 0
readonly _HAYATE_LIB_LOADED=1
readonly HAYATE_PYTHON=/usr/bin/python3  # Debian's: sees python3-aiosmtpd; pyenv's may not
readonly HAYATE_LOOPBACK=127.0.0.1
HAYATE_INTEGRATION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HAYATE_INTEGRATION_DIR
# Seconds a peer gets to come up, and to exit after SIGTERM before SIGKILL. Generous: the
# machine has 2 cores that a parallel build may be using.
HAYATE_START_TIMEOUT_S="${HAYATE_START_TIMEOUT_S:-30}"
HAYATE_STOP_TIMEOUT_S="${HAYATE_STOP_TIMEOUT_S:-5}"

HAYATE_TEST_DIR=""
HAYATE_BIN_DIR=""
HAYATE_LAST_PID=""
HAYATE_TEST_PIDS=()
declare -A HAYATE_PID_NAMES=()  # pid -> what it is, for messages
declare -A HAYATE_PID_LOGS=()   # pid -> its log file, whose tail we show on failure
# pid -> a command that stops it and what it spawned, run instead of stop_process on exit.
declare -A HAYATE_PID_STOPPERS=()
HAYATE_PASSED=0

# Python helpers, kept inline so that the library is one file. Subcommands:
#   ports COUNT                          COUNT distinct free loopback ports, on one line
#   probe tcp|smtp|smtps HOST PORT TIMEOUT_S PID
#   probe dns HOST PORT TIMEOUT_S PID NAME
#   dns HOST PORT NAME TYPE              answers one per line, exit 2 on a non-NOERROR rcode
#   json FILE KEY                        value at a dotted KEY (list items by index)
read -r -d '' _HAYATE_PY <<'PY' || true
import ipaddress, json, os, random, socket, struct, sys, time

def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)

def alive(pid):
    if pid <= 0:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False

def ports(count):
    """Ports free for TCP and UDP alike (dnsmasq binds both), held open together while we
    pick, so that they are distinct. Taken below the kernel's ephemeral range when there is
    room, so that no outgoing connection (of a test or of anything else on the machine) can
    take one between our pick and the server's bind."""
    low, high = 1024, 65535
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as port_range:
            ephemeral_low = int(port_range.read().split()[0])
        if ephemeral_low > 12000:
            low, high = 10000, ephemeral_low - 1
    except (OSError, ValueError, IndexError):
        pass
    held, chosen = [], []
    tries = 0
    while len(chosen) < count:
        tries += 1
        if tries > 1000 + 10 * count:
            fail("free_port: could not find ports free for both TCP and UDP")
        port = random.randrange(low, high + 1)
        if port in chosen:
            continue
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tcp.bind(("127.0.0.1", port))
            udp.bind(("127.0.0.1", port))
        except OSError:
            tcp.close()
            udp.close()
            continue
        held += [tcp, udp]
        chosen.append(port)
    print(" ".join(str(port) for port in chosen))

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

def read_name(message, offset):
    """RFC 1035 4.1.4: labels, possibly ending in a pointer. Returns (name, next offset)."""
    labels, end, jumps = [], None, 0
    while True:
        if offset >= len(message):
            raise ValueError("name runs past the message")
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if jumps > 64:
                raise ValueError("compression loop")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            jumps += 1
        elif length == 0:
            return ".".join(labels), (end if end is not None else offset + 1)
        else:
            labels.append(message[offset + 1:offset + 1 + length].decode("ascii", "replace"))
            offset += 1 + length

def dns_exchange(host, port, name, qtype, timeout_s):
    query_id = random.randrange(65536)
    question = b"".join(bytes([len(label)]) + label.encode("ascii")
                        for label in name.rstrip(".").split(".") if label) + b"\0"
    query = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)  # RD, one question
    query += question + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout_s)
        s.sendto(query, (host, port))
        deadline = time.monotonic() + timeout_s
        while True:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            reply, _ = s.recvfrom(65535)
            if len(reply) >= 12 and struct.unpack("!H", reply[:2])[0] == query_id:
                return reply

def dns_answers(reply):
    _, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", reply[:12])
    offset = 12
    for _ in range(qdcount):
        offset = read_name(reply, offset)[1] + 4
    answers = []
    for _ in range(ancount):
        _, offset = read_name(reply, offset)
        rtype, _, _, rdlength = struct.unpack("!HHIH", reply[offset:offset + 10])
        offset += 10
        rdata = reply[offset:offset + rdlength]
        if rtype == 1:
            answers.append(str(ipaddress.IPv4Address(rdata)))
        elif rtype == 28:
            answers.append(str(ipaddress.IPv6Address(rdata)))
        elif rtype == 15:
            answers.append(f"{struct.unpack('!H', rdata[:2])[0]} {read_name(reply, offset + 2)[0]}")
        elif rtype in (2, 5, 12):
            answers.append(read_name(reply, offset)[0])
        elif rtype == 16:
            strings, i = [], 0
            while i < len(rdata):
                strings.append(rdata[i + 1:i + 1 + rdata[i]].decode("utf-8", "replace"))
                i += 1 + rdata[i]
            answers.append("".join(strings))
        else:
            answers.append(f"TYPE{rtype} {rdata.hex()}")
        offset += rdlength
    return flags & 0x000F, answers

def probe_once(kind, host, port, extra):
    if kind == "tcp":
        socket.create_connection((host, port), timeout=1).close()
    elif kind == "smtp":  # a final greeting line (RFC 5321 4.2: "220 " after any "220-")
        with socket.create_connection((host, port), timeout=2) as s:
            stream = s.makefile("rb")
            while True:
                line = stream.readline(1024)
                if len(line) < 4 or not line[:3].isdigit():
                    raise OSError(f"no SMTP greeting: {line!r}")
                if line[3:4] == b" ":
                    break
            s.sendall(b"QUIT\r\n")
            stream.readline(1024)
    elif kind == "smtps":  # implicit TLS (RFC 8314 3.3): handshake, then the greeting
        import ssl
        context = ssl.create_default_context()
        context.check_hostname = False  # readiness only; tests verify certificates themselves
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=2) as raw:
            with context.wrap_socket(raw) as s:
                stream = s.makefile("rb")
                while True:
                    line = stream.readline(1024)
                    if len(line) < 4 or not line[:3].isdigit():
                        raise OSError(f"no SMTP greeting over TLS: {line!r}")
                    if line[3:4] == b" ":
                        break
                s.sendall(b"QUIT\r\n")
                stream.readline(1024)
    elif kind == "dns":  # any answer, even NXDOMAIN or REFUSED, shows the server is up
        dns_exchange(host, port, extra, 1, 0.5)
    else:
        fail(f"unknown probe {kind}", 64)

def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes

def owns_port(pid, port, udp):
    """Whether PID holds a listening TCP (or bound UDP) socket on PORT: a probe alone could be
    answered by some other process that already had the port."""
    wanted = set()
    for table in (("udp", "udp6") if udp else ("tcp", "tcp6")):
        try:
            with open(f"/proc/net/{table}") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    if local_port == port and (udp or fields[3] == "0A"):  # 0A: TCP_LISTEN
                        wanted.add(fields[9])
        except OSError:
            continue
    try:
        return bool(wanted & socket_inodes(pid))
    except OSError:
        return False

def probe(kind, host, port, timeout_s, pid, extra=None):
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    while True:
        if not alive(pid):
            fail(f"process {pid} exited before {host}:{port} answered ({kind})")
        try:
            if pid > 0 and not owns_port(pid, port, kind == "dns"):
                raise OSError(f"process {pid} holds no socket on port {port} (yet)")
            probe_once(kind, host, port, extra)
            return
        except (OSError, ValueError) as error:
            last_error = str(error) or type(error).__name__
        if time.monotonic() >= deadline:
            fail(f"{host}:{port} did not answer ({kind}) within {timeout_s:g} s: {last_error}")
        time.sleep(0.05)

def json_get(path, key):
    with open(path, encoding="utf-8") as f:
        value = json.load(f)
    for part in key.split(".") if key else []:
        index = int(part) if part.lstrip("-").isdigit() else None
        if isinstance(value, list) and index is not None and -len(value) <= index < len(value):
            value = value[index]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            fail(f"json_get: {path}: no key {key!r} (stopped at {part!r})")
    if isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value, sort_keys=True))

def main(argv):
    command = argv[0]
    if command == "ports":
        ports(int(argv[1]))
    elif command == "probe":
        probe(argv[1], argv[2], int(argv[3]), float(argv[4]), int(argv[5]),
              argv[6] if len(argv) > 6 else None)
    elif command == "dns":
        qtype = TYPES.get(argv[4].upper()) or fail(f"dns_query: unknown type {argv[4]}", 64)
        try:
            reply = dns_exchange(argv[1], int(argv[2]), argv[3], qtype, 5.0)
            rcode, answers = dns_answers(reply)
        except (OSError, ValueError, struct.error) as error:
            fail(f"dns_query {argv[3]} {argv[4]} @{argv[1]}:{argv[2]}: {error}")
        if rcode != 0:
            fail(f"dns_query {argv[3]} {argv[4]}: {RCODES.get(rcode, rcode)}", 2)
        if answers:
            print("\n".join(answers))
    elif command == "json":
        json_get(argv[1], argv[2])
    else:
        fail(f"unknown helper command {command}", 64)

main(sys.argv[1:])
PY

_hayate_py() {
  "${HAYATE_PYTHON}" -c "${_HAYATE_PY}" "$@"
}

# fail MSG...: says what went wrong and ends the test with status 1 (the EXIT trap cleans up).
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

# hayate_test_init [BIN_DIR]: a private work dir (HAYATE_TEST_DIR) and the EXIT trap that stops
# every started process and removes the dir, unless KEEP_TEST_DIR=1.
hayate_test_init() {
  HAYATE_BIN_DIR="${1:-}"
  [[ -x "${HAYATE_PYTHON}" ]] || fail "${HAYATE_PYTHON} is missing: run scripts/install-deps.sh"
  HAYATE_TEST_DIR="$(mktemp -d "${TMPDIR:-/tmp}/hayate-test.XXXXXX")"
  # Peers that drop root privileges (smtp-sink -u nobody) must reach their files in here.
  chmod 0755 "${HAYATE_TEST_DIR}"
  # The test's own state store (suppression list, warm-up counts): never the host's.
  HAYATE_STATE_DIR="${HAYATE_TEST_DIR}/state"
  export HAYATE_TEST_DIR HAYATE_BIN_DIR HAYATE_STATE_DIR
  trap _hayate_test_cleanup EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

_hayate_test_cleanup() {
  local status=$? index pid
  trap - EXIT HUP INT TERM
  for ((index = ${#HAYATE_TEST_PIDS[@]} - 1; index >= 0; index--)); do
    pid="${HAYATE_TEST_PIDS[index]}"
    if ((status != 0)) && [[ -n "${HAYATE_PID_LOGS[${pid}]:-}" ]]; then
      _hayate_show_log "${HAYATE_PID_NAMES[${pid}]}" "${HAYATE_PID_LOGS[${pid}]}"
    fi
    if [[ -n "${HAYATE_PID_STOPPERS[${pid}]:-}" ]]; then
      ${HAYATE_PID_STOPPERS[${pid}]} || true  # a function name and its words: split on purpose
    else
      stop_process "${pid}" || true
    fi
  done
  if [[ -n "${HAYATE_TEST_DIR}" && -d "${HAYATE_TEST_DIR}" ]]; then
    if [[ "${KEEP_TEST_DIR:-0}" == 1 ]]; then
      printf 'kept test dir %s\n' "${HAYATE_TEST_DIR}" >&2
    else
      rm -rf "${HAYATE_TEST_DIR}"
    fi
  fi
  local name
  name="$(basename "$0" .sh)"
  if ((status == 0)); then
    printf '%s: %d passed, 0 failed\n' "${name}" "${HAYATE_PASSED}"
  else
    printf '%s: %d passed, 1 failed\n' "${name}" "${HAYATE_PASSED}"
  fi
  exit "${status}"
}

_hayate_show_log() {
  local name="$1" log="$2"
  [[ -s "${log}" ]] || return 0
  printf -- '--- last lines of %s (%s) ---\n' "${name}" "${log}" >&2
  tail -n 20 "${log}" >&2 || true
}

# process_alive PID: true while PID runs (a zombie counts as gone).
process_alive() {
  local state
  state="$(cut -d')' -f2- "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2)" || return 1
  [[ -n "${state}" && "${state}" != Z && "${state}" != X ]]
}

# stop_process PID: SIGTERM, wait up to HAYATE_STOP_TIMEOUT_S, then SIGKILL. Tests may call it
# to take a peer down mid-run; the EXIT trap calls it for every started process.
stop_process() {
  local pid="$1" deadline
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 0
  if process_alive "${pid}"; then
    kill -TERM "${pid}" 2>/dev/null || true
    deadline=$((SECONDS + HAYATE_STOP_TIMEOUT_S))
    while process_alive "${pid}" && ((SECONDS < deadline)); do sleep 0.05; done
    if process_alive "${pid}"; then
      printf 'warning: %s (pid %s) ignored SIGTERM for %s s: killing it\n' \
        "${HAYATE_PID_NAMES[${pid}]:-process}" "${pid}" "${HAYATE_STOP_TIMEOUT_S}" >&2
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  fi
  wait "${pid}" 2>/dev/null || true  # reap it; its status is of no interest here
}

# free_port [COUNT]: COUNT (default 1) distinct ports free for TCP and UDP on 127.0.0.1, on
# one line. Another process may still take one before our peer binds it: the start functions
# then fail at once, showing the peer's "address already in use".
#   read -r smtp_port dns_port < <(free_port 2)
free_port() {
  _hayate_py ports "${1:-1}"
}

# wait_for_port HOST PORT [TIMEOUT_S] [PID]: polls until a TCP connect succeeds; fails at the
# deadline, or at once if PID (when given) exits.
wait_for_port() {
  _hayate_py probe tcp "$1" "$2" "${3:-${HAYATE_START_TIMEOUT_S}}" "${4:-0}" ||
    fail "wait_for_port $1:$2"
}

# wait_for_smtp HOST PORT [TIMEOUT_S] [PID]: polls until the server sends a complete greeting
# (then says QUIT), so the peer sees one clean session.
wait_for_smtp() {
  _hayate_py probe smtp "$1" "$2" "${3:-${HAYATE_START_TIMEOUT_S}}" "${4:-0}" ||
    fail "wait_for_smtp $1:$2"
}

# wait_for_udp_dns HOST PORT NAME [TIMEOUT_S] [PID]: polls with an A query for NAME over UDP
# until any reply comes back (NXDOMAIN counts: the server is up).
wait_for_udp_dns() {
  _hayate_py probe dns "$1" "$2" "${4:-${HAYATE_START_TIMEOUT_S}}" "${5:-0}" "$3" ||
    fail "wait_for_udp_dns $1:$2 $3"
}

# dns_query HOST PORT NAME TYPE: the answers, one a line (MX as "PREFERENCE HOST"); status 2 and
# the rcode on stderr when the answer is not NOERROR. Types: A AAAA MX CNAME NS PTR TXT.
dns_query() {
  _hayate_py dns "$1" "$2" "$3" "$4"
}

# json_get FILE KEY: the value at dotted KEY ("messages", "domains.0.name"); strings bare,
# everything else as JSON. Fails when the file or the key is missing.
json_get() {
  _hayate_py json "$1" "$2"
}

# assert_eq NAME EXPECTED ACTUAL
assert_eq() {
  if [[ "$2" != "$3" ]]; then
    fail "$1: expected '$2', got '$3'"
  fi
  HAYATE_PASSED=$((HAYATE_PASSED + 1))
  printf 'ok %s = %s\n' "$1" "$3"
}

# assert_contains NAME NEEDLE HAYSTACK
assert_contains() {
  if [[ "$3" != *"$2"* ]]; then
    fail "$1: expected to contain '$2', got '$3'"
  fi
  HAYATE_PASSED=$((HAYATE_PASSED + 1))
  printf 'ok %s contains %s\n' "$1" "$2"
}

# wait_until_eq NAME EXPECTED TIMEOUT_S COMMAND...: polls COMMAND's output until it equals
# EXPECTED (counters a server updates just after it replies); fails with the last value seen.
wait_until_eq() {
  local name="$1" expected="$2" timeout_s="$3" actual deadline
  shift 3
  deadline=$((SECONDS + timeout_s))
  while true; do
    actual="$("$@" 2>&1)" || actual="error: ${actual}"
    if [[ "${actual}" == "${expected}" ]]; then
      assert_eq "${name}" "${expected}" "${actual}"
      return 0
    fi
    ((SECONDS < deadline)) ||
      fail "${name}: expected '${expected}', still '${actual}' after ${timeout_s} s"
    sleep 0.05
  done
}

# require_bin NAME: the path of our binary NAME in HAYATE_BIN_DIR, or a failure saying so.
require_bin() {
  local path="${HAYATE_BIN_DIR}/$1"
  [[ -n "${HAYATE_BIN_DIR}" && -x "${path}" ]] ||
    fail "$1 not found in '${HAYATE_BIN_DIR}': pass the build's bin dir (ninja -C BUILD $1)"
  printf '%s\n' "${path}"
}

# _hayate_start NAME STDOUT_FILE STDERR_FILE COMMAND...: starts COMMAND in the background with
# no stdin, records its PID (HAYATE_LAST_PID) for the EXIT trap.
_hayate_start() {
  local name="$1" out="$2" err="$3"
  shift 3
  if [[ "${out}" == "${err}" ]]; then
    "$@" >"${out}" 2>&1 </dev/null &
  else
    "$@" >"${out}" 2>"${err}" </dev/null &
  fi
  HAYATE_LAST_PID=$!
  HAYATE_TEST_PIDS+=("${HAYATE_LAST_PID}")
  HAYATE_PID_NAMES[${HAYATE_LAST_PID}]="${name}"
  HAYATE_PID_LOGS[${HAYATE_LAST_PID}]="${err}"
}

# _hayate_await NAME LOG PROBE ARGS...: runs the readiness probe (which must return, not exit);
# on failure shows the log tail and fails the test.
_hayate_await() {
  local name="$1" log="$2"
  shift 2
  if ! "$@"; then
    _hayate_show_log "${name}" "${log}"
    HAYATE_PID_LOGS[${HAYATE_LAST_PID}]=""  # shown once is enough: the EXIT trap skips it
    fail "${name} did not come up"
  fi
}

_hayate_require_init() {
  [[ -n "${HAYATE_TEST_DIR}" ]] || fail "call hayate_test_init before $1"
}

# start_smtp_sink PORT [--dump] [SMTP_SINK_ARGS...]: Postfix smtp-sink(1) on 127.0.0.1:PORT,
# with its running counters (-c) kept for smtp_sink_messages. --dump also writes each message
# to its own file (-d) for smtp_sink_dump_count; slower, so opt in. Options such as -p (no
# PIPELINING) or "-r RCPT" (4xx to every RCPT) pass through.
start_smtp_sink() {
  _hayate_require_init start_smtp_sink
  local port="$1" name="smtp-sink:$1" dump_dir
  shift
  local -a command=(/usr/sbin/smtp-sink -c)
  [[ -x /usr/sbin/smtp-sink ]] || fail "/usr/sbin/smtp-sink missing: run scripts/install-deps.sh"
  dump_dir="$(smtp_sink_dump_dir "${port}")"
  mkdir -p "${dump_dir}"
  if ((EUID == 0)); then
    # smtp-sink refuses to run as root: it must switch to a user after binding (-u).
    command+=(-u nobody)
    chown nobody "${dump_dir}"
  fi
  if [[ "${1:-}" == --dump ]]; then
    shift
    if ((EUID == 0)) && ! setpriv --reuid=nobody --regid=nogroup --clear-groups \
        test -w "${dump_dir}"; then
      fail "${name}: user nobody cannot write ${dump_dir}; set TMPDIR to a world-searchable dir"
    fi
    # A "/" in the template makes smtp-sink create missing dirs; strftime then a random suffix.
    command+=(-d "${dump_dir}/%Y%m%d%H%M%S.")
  fi
  command+=("$@" "${HAYATE_LOOPBACK}:${port}" 256)
  _hayate_start "${name}" "$(_smtp_sink_counters_file "${port}")" \
    "${HAYATE_TEST_DIR}/smtp-sink-${port}.log" "${command[@]}"
  _hayate_await "${name}" "${HAYATE_TEST_DIR}/smtp-sink-${port}.log" \
    _hayate_py probe tcp "${HAYATE_LOOPBACK}" "${port}" "${HAYATE_START_TIMEOUT_S}" \
    "${HAYATE_LAST_PID}"
}

_smtp_sink_counters_file() {
  printf '%s/smtp-sink-%s.counters\n' "${HAYATE_TEST_DIR}" "$1"
}

smtp_sink_dump_dir() {
  printf '%s/smtp-sink-%s.dump\n' "${HAYATE_TEST_DIR}" "$1"
}

# smtp_sink_messages PORT: messages the sink on PORT has received ("." seen), from the last
# "sess=N quit=N mesg=N" line of its -c counters; 0 before the first.
smtp_sink_messages() {
  local counters last
  counters="$(_smtp_sink_counters_file "$1")"
  [[ -f "${counters}" ]] || fail "smtp_sink_messages: no smtp-sink was started on port $1"
  last="$(tr '\r' '\n' <"${counters}" | grep -o 'mesg=[0-9]*' | tail -n 1 || true)"
  printf '%s\n' "${last:-mesg=0}" | cut -d= -f2
}

# smtp_sink_dump_count PORT: message files written by a sink started with --dump.
smtp_sink_dump_count() {
  find "$(smtp_sink_dump_dir "$1")" -type f | wc -l
}

# start_dnsmasq PORT [DNSMASQ_ARGS...]: an authoritative-enough DNS server on 127.0.0.1:PORT
# (UDP and TCP) that knows only what ARGS say (--mx-host, --host-record, --address, ...): no
# upstream, no /etc/hosts, no config file. Logs queries to its log.
start_dnsmasq() {
  _hayate_require_init start_dnsmasq
  local port="$1" name="dnsmasq:$1" log="${HAYATE_TEST_DIR}/dnsmasq-$1.log"
  shift
  [[ -x /usr/sbin/dnsmasq ]] || fail "/usr/sbin/dnsmasq missing: run scripts/install-deps.sh"
  _hayate_start "${name}" "${log}" "${log}" /usr/sbin/dnsmasq --no-daemon \
    --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
    --port="${port}" --listen-address="${HAYATE_LOOPBACK}" --bind-interfaces \
    --pid-file="${HAYATE_TEST_DIR}/dnsmasq-${port}.pid" --log-facility=- --log-queries "$@"
  _hayate_await "${name}" "${log}" _hayate_py probe dns "${HAYATE_LOOPBACK}" "${port}" \
    "${HAYATE_START_TIMEOUT_S}" "${HAYATE_LAST_PID}" readiness.probe.test
}

# start_aiosmtpd PORT [ARGS...]: tests/integration/aiosmtpd_server.py (no PIPELINING) on
# 127.0.0.1:PORT, its counters in "$(aiosmtpd_stats_file PORT)". ARGS: --maildir DIR,
# --tls-cert F --tls-key F, --implicit-tls, --auth-user U --auth-password P, --auth-required,
# --verbose, ... (see its --help).
start_aiosmtpd() {
  _hayate_require_init start_aiosmtpd
  local port="$1" name="aiosmtpd:$1" log="${HAYATE_TEST_DIR}/aiosmtpd-$1.log" probe=smtp
  shift
  [[ " $* " != *" --implicit-tls "* ]] || probe=smtps  # no plaintext greeting to wait for
  _hayate_start "${name}" "${log}" "${log}" "${HAYATE_PYTHON}" \
    "${HAYATE_INTEGRATION_DIR}/aiosmtpd_server.py" --port "${port}" \
    --stats-file "$(aiosmtpd_stats_file "${port}")" \
    --pid-file "${HAYATE_TEST_DIR}/aiosmtpd-${port}.pid" "$@"
  _hayate_await "${name}" "${log}" _hayate_py probe "${probe}" "${HAYATE_LOOPBACK}" "${port}" \
    "${HAYATE_START_TIMEOUT_S}" "${HAYATE_LAST_PID}"
}

aiosmtpd_stats_file() {
  printf '%s/aiosmtpd-%s.stats.json\n' "${HAYATE_TEST_DIR}" "$1"
}

# start_scripted_smtp [HOST:]PORT [ARGS...]: tests/integration/scripted_smtp.py, the peer that
# throttles like a mailbox provider, on HOST (default 127.0.0.1; 127.0.0.2... for more MX
# hosts on one port) and PORT, with its events log in "$(scripted_smtp_events [HOST:]PORT)".
# Ready once it has written its ready file: no probe connection, which would show in its log.
# ARGS: --rate-limit 5/10s, --rate-limit-per-ip, --max-connections N, --greylist SECONDS,
# --suspend-after N --suspend-for SECONDS, --refuse 554|421|drop|reset,
# --stop-throttling-after SECONDS, --scenario FILE, ... (see its --help).
start_scripted_smtp() {
  _hayate_require_init start_scripted_smtp
  local host port base name
  _scripted_smtp_address "$1"
  shift
  base="$(_scripted_smtp_base "${host}" "${port}")"
  name="scripted-smtp:${host}:${port}"
  rm -f "${base}.ready"
  _hayate_start "${name}" "${base}.log" "${base}.log" "${HAYATE_PYTHON}" \
    "${HAYATE_INTEGRATION_DIR}/scripted_smtp.py" --host "${host}" --port "${port}" \
    --log "${base}.events.jsonl" --ready-file "${base}.ready" "$@"
  _hayate_await "${name}" "${base}.log" _scripted_smtp_wait_ready "${base}.ready" \
    "${HAYATE_LAST_PID}"
}

# _scripted_smtp_address [HOST:]PORT: sets the caller's locals host (127.0.0.1 unless given)
# and port.
_scripted_smtp_address() {
  if [[ "$1" =~ ^[0-9]+$ ]]; then
    host="${HAYATE_LOOPBACK}"
    port="$1"
  elif [[ "$1" =~ ^(.+):([0-9]+)$ ]]; then
    host="${BASH_REMATCH[1]}"
    port="${BASH_REMATCH[2]}"
  else
    fail "scripted_smtp: '$1' is not PORT or HOST:PORT"
  fi
}

_scripted_smtp_base() {
  printf '%s/scripted-smtp-%s-%s\n' "${HAYATE_TEST_DIR}" "$1" "$2"
}

# _scripted_smtp_wait_ready FILE PID: polls until FILE exists; status 1 when PID exits first or
# at HAYATE_START_TIMEOUT_S.
_scripted_smtp_wait_ready() {
  local deadline=$((SECONDS + HAYATE_START_TIMEOUT_S))
  until [[ -s "$1" ]]; do
    if ! process_alive "$2"; then
      echo "scripted_smtp (pid $2) exited before it was ready" >&2
      return 1
    fi
    ((SECONDS < deadline)) || { echo "no $1 after ${HAYATE_START_TIMEOUT_S} s" >&2; return 1; }
    sleep 0.05
  done
}

# scripted_smtp_events [HOST:]PORT: the server's events log (JSON Lines).
scripted_smtp_events() {
  local host port
  _scripted_smtp_address "$1"
  printf '%s.events.jsonl\n' "$(_scripted_smtp_base "${host}" "${port}")"
}

# scripted_smtp_event_count [HOST:]PORT EVENT: events of kind EVENT logged so far (message,
# connect, throttling_stopped, suspend_end...), for wait_until_eq.
scripted_smtp_event_count() {
  grep -c "^{\"event\":\"$2\"," "$(scripted_smtp_events "$1")" || true
}

# scripted_smtp_report [HOST:]PORT [REPORT_ARGS...]: scripted_report.py's JSON for that server
# (--window SECONDS, --settle SECONDS or --since UNIX_TIME); fails on a malformed log. Read
# values with json_get on a file: scripted_smtp_report 2525 --settle 5 >"${dir}/report.json".
scripted_smtp_report() {
  local events
  events="$(scripted_smtp_events "$1")"
  shift
  "${HAYATE_PYTHON}" "${HAYATE_INTEGRATION_DIR}/scripted_report.py" "${events}" "$@" ||
    fail "scripted_report.py ${events} $* failed"
}

# start_hayate_sink PORT [ARGS...]: our bundled sink from HAYATE_BIN_DIR on 127.0.0.1:PORT.
start_hayate_sink() {
  _hayate_require_init start_hayate_sink
  local port="$1" name="hayate-sink:$1" log="${HAYATE_TEST_DIR}/hayate-sink-$1.log" sink
  shift
  sink="$(require_bin hayate-sink)"
  _hayate_start "${name}" "${log}" "${log}" "${sink}" \
    --listen "${HAYATE_LOOPBACK}:${port}" "$@"
  _hayate_await "${name}" "${log}" _hayate_py probe tcp "${HAYATE_LOOPBACK}" "${port}" \
    "${HAYATE_START_TIMEOUT_S}" "${HAYATE_LAST_PID}"
}

# make_test_certificate NAME: a self-signed EC certificate for localhost and 127.0.0.1, valid
# two days, as HAYATE_TEST_DIR/NAME.crt and NAME.key (for STARTTLS peers).
make_test_certificate() {
  _hayate_require_init make_test_certificate
  local base="${HAYATE_TEST_DIR}/$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "${base}.key" -out "${base}.crt" >"${base}.openssl.log" 2>&1 ||
    { cat "${base}.openssl.log" >&2; fail "make_test_certificate $1"; }
}

# --- TLS test PKI: a throwaway CA and server certificates it signs, so that peers are verified
# the way a real MTA verifies them (chain to a trusted root, then the name, RFC 6125 6.4).
# Keys are EC P-256 (RSA 2048 with --rsa), valid two days, mode 0644: they protect nothing, and
# servers that drop privileges must still read them.

# Names in the default certificates of make_test_pki and start_postfix_smtpd.
readonly HAYATE_TLS_HOSTNAME=mx.tls.test        # in tls-mx.crt, with localhost and 127.0.0.1
readonly HAYATE_TLS_WRONG_HOSTNAME=wrong.test   # the only name in tls-wrong.crt

# _hayate_openssl LOG COMMAND...: runs openssl quietly; on failure shows its output and fails.
_hayate_openssl() {
  local log="$1"
  shift
  openssl "$@" >"${log}" 2>&1 || { cat "${log}" >&2; fail "openssl $1 failed (${log})"; }
}

# _hayate_new_key [--rsa] FILE: a fresh private key (EC P-256, or RSA 2048) in FILE.
_hayate_new_key() {
  local -a algorithm=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
  if [[ "$1" == --rsa ]]; then
    algorithm=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048)
    shift
  fi
  _hayate_openssl "$1.log" genpkey "${algorithm[@]}" -out "$1"
  chmod 0644 "$1"
}

# make_test_ca [--rsa] NAME: a CA certificate and key, HAYATE_TEST_DIR/NAME-ca.crt and
# NAME-ca.key, valid two days. Trust it with `cafile=...NAME-ca.crt` or `-CAfile`.
make_test_ca() {
  _hayate_require_init make_test_ca
  local -a rsa=()
  if [[ "${1:-}" == --rsa ]]; then
    rsa=(--rsa)
    shift
  fi
  local name="$1" base="${HAYATE_TEST_DIR}/$1-ca"
  [[ "${name}" =~ ^[A-Za-z0-9._-]+$ ]] || fail "make_test_ca: bad name '${name}'"
  # basicConstraints and keyUsage as RFC 5280 4.2.1.9/4.2.1.3 want them for a CA: strict
  # verifiers (Python 3.13's VERIFY_X509_STRICT) refuse a CA without them.
  cat >"${base}.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
CN = hayate test CA ${name}
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
  _hayate_new_key "${rsa[@]}" "${base}.key"
  _hayate_openssl "${base}.log" req -config "${base}.cnf" -new -x509 -days 2 -sha256 \
    -key "${base}.key" -set_serial "0x$(openssl rand -hex 8)" -out "${base}.crt"
  chmod 0644 "${base}.crt"
}

# make_ca_signed_certificate [--rsa] CA NAME HOSTNAME...: a server certificate for the
# HOSTNAMEs (DNS names, or IPv4/IPv6 addresses), signed by the CA of `make_test_ca CA`, as
# HAYATE_TEST_DIR/NAME.crt and NAME.key; the first HOSTNAME is also the subject's CN.
#   make_ca_signed_certificate tls tls-mx localhost mx.tls.test 127.0.0.1
make_ca_signed_certificate() {
  _hayate_require_init make_ca_signed_certificate
  local -a rsa=()
  if [[ "${1:-}" == --rsa ]]; then
    rsa=(--rsa)
    shift
  fi
  (($# >= 3)) || fail "usage: make_ca_signed_certificate [--rsa] CA NAME HOSTNAME..."
  local ca="${HAYATE_TEST_DIR}/$1-ca" base="${HAYATE_TEST_DIR}/$2" host san="" usage
  shift 2
  [[ -f "${ca}.crt" && -f "${ca}.key" ]] || fail "make_ca_signed_certificate: no CA ${ca}.crt"
  for host in "$@"; do
    if [[ "${host}" =~ ^[0-9.]+$ || "${host}" == *:* ]]; then
      san+="${san:+, }IP:${host}"
    else
      san+="${san:+, }DNS:${host}"
    fi
  done
  # An RSA key may also encipher the key exchange (RFC 5280 4.2.1.3); an EC key only signs.
  usage="digitalSignature"
  ((${#rsa[@]} == 0)) || usage+=", keyEncipherment"
  cat >"${base}.ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, ${usage}
extendedKeyUsage = serverAuth
subjectAltName = ${san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EXT
  _hayate_new_key "${rsa[@]}" "${base}.key"
  _hayate_openssl "${base}.log" req -new -key "${base}.key" -subj "/CN=$1" -out "${base}.csr"
  _hayate_openssl "${base}.log" x509 -req -in "${base}.csr" -CA "${ca}.crt" -CAkey "${ca}.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 2 -sha256 -extfile "${base}.ext" \
    -out "${base}.crt"
  chmod 0644 "${base}.crt"
}

# make_test_pki: once per test, CA "tls" (HAYATE_TEST_DIR/tls-ca.crt) and two certificates it
# signs: tls-mx.{crt,key} for localhost, mx.tls.test and 127.0.0.1, and tls-wrong.{crt,key}
# for wrong.test only. start_postfix_smtpd uses them unless told otherwise.
make_test_pki() {
  _hayate_require_init make_test_pki
  [[ -f "${HAYATE_TEST_DIR}/tls-wrong.crt" ]] && return 0
  make_test_ca tls
  make_ca_signed_certificate tls tls-mx localhost "${HAYATE_TLS_HOSTNAME}" "${HAYATE_LOOPBACK}"
  make_ca_signed_certificate tls tls-wrong "${HAYATE_TLS_WRONG_HOSTNAME}"
}

# test_ca_file [NAME]: the CA certificate of `make_test_ca NAME` (default: make_test_pki's).
test_ca_file() {
  printf '%s/%s-ca.crt\n' "${HAYATE_TEST_DIR}" "${1:-tls}"
}

# --- Postfix smtpd: the real MTA as a peer, one private instance per port (own config, queue,
# data dir and log under HAYATE_TEST_DIR/postfix-PORT), accepting every recipient for the
# discard(8) transport: nothing is ever delivered or relayed. Needs root (master(8) does).

readonly HAYATE_POSTFIX_DAEMON_DIR=/usr/lib/postfix/sbin

_postfix_dir() {
  printf '%s/postfix-%s\n' "${HAYATE_TEST_DIR}" "$1"
}

# postfix_maillog PORT: the instance's log file (maillog_file, written by postlogd).
postfix_maillog() {
  printf '%s/maillog\n' "$(_postfix_dir "$1")"
}

# start_postfix_smtpd PORT MODE [OPTIONS...]: Postfix smtpd on 127.0.0.1:PORT, greeting as
# mx.tls.test. MODE:
#   plain    no TLS
#   may      STARTTLS offered (RFC 3207), optional
#   encrypt  STARTTLS required: MAIL before it gets 530 5.7.0
#   wrapper  implicit TLS from the first byte, as on port 465 (RFC 8314 3.3)
#   broken   STARTTLS offered and answered 220, but every handshake fails: the server accepts
#            only TLS 1.2 with PSK cipher suites and has no PSK, so it sends a handshake_failure
#            alert ("no shared cipher") whatever a client offers
# OPTIONS:
#   --cert NAME      serve HAYATE_TEST_DIR/NAME.{crt,key} (default tls-mx of make_test_pki)
#   --wrong-name     serve tls-wrong (wrong.test): chain verifies, the name does not match
#   --set 'P = V'    a main.cf line, replacing ours for P (smtpd_discard_ehlo_keywords = ...)
# Counters, from its log: postfix_accepted_count, postfix_recipients_count,
# postfix_tls_sessions, postfix_sessions, postfix_log_count. Postfix's own limits apply: 100
# smtpd processes, 50 concurrent connections per client (anvil); --set changes them.
# Stopped on exit, or by stop_postfix_smtpd PORT.
start_postfix_smtpd() {
  _hayate_require_init start_postfix_smtpd
  (($# >= 2)) || fail "usage: start_postfix_smtpd PORT plain|may|encrypt|wrapper|broken [...]"
  local port="$1" mode="$2" name="postfix:$1" cert="tls-mx"
  local dir etc log
  local -a extra=()
  shift 2
  case "${mode}" in
    plain | may | encrypt | wrapper | broken) ;;
    *) fail "start_postfix_smtpd: unknown mode '${mode}'" ;;
  esac
  while (($# > 0)); do
    case "$1" in
      --cert) cert="${2:?--cert needs a name}"; shift 2 ;;
      --wrong-name) cert="tls-wrong"; shift ;;
      --set) extra+=("${2:?--set needs a main.cf line}"); shift 2 ;;
      *) fail "start_postfix_smtpd: unknown option '$1'" ;;
    esac
  done
  ((EUID == 0)) || fail "${name}: Postfix's master(8) runs as root only; run the test as root"
  [[ -x "${HAYATE_POSTFIX_DAEMON_DIR}/master" && -x /usr/sbin/postfix ]] ||
    fail "${name}: Postfix is missing: run scripts/install-deps.sh"
  dir="$(_postfix_dir "${port}")"
  etc="${dir}/etc"
  log="$(postfix_maillog "${port}")"
  [[ ! -e "${dir}" ]] || fail "${name}: ${dir} exists: one instance per port"
  if [[ "${mode}" != plain ]]; then
    [[ "${cert}" != tls-mx && "${cert}" != tls-wrong ]] || make_test_pki
    [[ -f "${HAYATE_TEST_DIR}/${cert}.crt" && -f "${HAYATE_TEST_DIR}/${cert}.key" ]] ||
      fail "${name}: no certificate ${HAYATE_TEST_DIR}/${cert}.crt and .key"
  fi
  # The tree Postfix's postfix-files prescribes (what `postfix check` would create, in 2-3 s):
  # config and queue dirs owned by root and not group or world writable, the rest owned by
  # mail_owner; maildrop and public also by group setgid_group.
  install -d -m 0755 "${etc}" "${dir}/queue" "${dir}/queue/pid"
  install -d -m 0700 -o postfix "${dir}/data"
  local queue
  for queue in active bounce corrupt defer deferred flush hold incoming private saved trace; do
    install -d -m 0700 -o postfix "${dir}/queue/${queue}"
  done
  install -d -m 0730 -o postfix -g postdrop "${dir}/queue/maildrop"
  install -d -m 0710 -o postfix -g postdrop "${dir}/queue/public"
  local line parameter main_cf
  main_cf="$(_postfix_main_cf "${dir}" "${mode}" "${cert}")"
  for line in "${extra[@]}"; do
    # Postfix warns about a parameter set twice: drop ours when the test sets it.
    parameter="$(sed -E 's/^[[:space:]]*([A-Za-z0-9_]+)[[:space:]]*=.*/\1/;t;s/.*//' <<<"${line}")"
    [[ -n "${parameter}" ]] || fail "${name}: --set '${line}' is not a 'parameter = value' line"
    main_cf="$(grep -vE "^${parameter}[[:space:]]*=" <<<"${main_cf}")"
    main_cf+=$'\n'"${line}"
  done
  printf '%s\n' "${main_cf}" >"${etc}/main.cf"
  _postfix_master_cf "${port}" "${mode}" >"${etc}/master.cf"
  # Postfix rereads a config file while its mtime is the current second (it may be half
  # written), which costs every Postfix program 1-2 s here: date the files back a minute.
  touch -d '1 minute ago' "${etc}/main.cf" "${etc}/master.cf"
  # postconf parses both files as master(8) will, and names a bad --set line.
  if ! /usr/sbin/postconf -c "${etc}" -n >"${dir}/postconf.log" 2>&1 ||
      grep -E 'warning|fatal' "${dir}/postconf.log" >&2; then
    fail "${name}: bad configuration in ${etc}/main.cf"
  fi
  # master(8) logs why it stops only to syslog until its postlogd runs: catch the usual reason.
  if (exec 3<>"/dev/tcp/${HAYATE_LOOPBACK}/${port}") 2>/dev/null; then
    fail "${name}: port ${port} is taken: something already listens on it"
  fi
  # master(8) run directly, not through `postfix start`, so that our PID is the master's: it
  # stays in the foreground, leads its own process group, and on SIGTERM stops every daemon
  # of the instance. Not -d: then it does not lead a group and SIGTERM leaves orphans.
  # It logs through postlogd into maillog_file; its own stdout and stderr hold only what it
  # says before that works.
  # It must not lead a process group already, or its setsid() fails and it exits: without job
  # control (`set +m`, the default in scripts) a background job stays in our group.
  local monitor=0
  [[ $- != *m* ]] || { monitor=1; set +m; }
  _hayate_start "${name}" "${dir}/master.out" "${dir}/master.out" \
    "${HAYATE_POSTFIX_DAEMON_DIR}/master" -c "${etc}"
  ((monitor == 0)) || set -m
  HAYATE_PID_LOGS[${HAYATE_LAST_PID}]="${log}"
  HAYATE_PID_STOPPERS[${HAYATE_LAST_PID}]="stop_postfix_smtpd ${port}"
  printf '%s\n' "${HAYATE_LAST_PID}" >"${dir}/master.test-pid"
  _postfix_await "${port}" "${mode}" "${HAYATE_LAST_PID}"
  wc -l <"${log}" >"${dir}/log-start"
}

# _postfix_await PORT MODE MASTER_PID: waits until smtpd greets (over TLS in wrapper mode) and
# has logged the end of that session, so that the counters can start after it. Fails at once
# when the master exits or a daemon logs a fatal error (bad main.cf value, unreadable key),
# and then stops the instance itself: a failed start inside $(...) leaves nothing running.
_postfix_await() {
  local port="$1" master="$3" name="postfix:$1" probe=smtp log deadline reason=""
  log="$(postfix_maillog "${port}")"
  [[ "$2" != wrapper ]] || probe=smtps
  deadline=$((SECONDS + HAYATE_START_TIMEOUT_S))
  # Short probes in a loop: a daemon that dies at start-up leaves the master accepting
  # connections nobody answers, and only its log says why.
  until _hayate_py probe "${probe}" "${HAYATE_LOOPBACK}" "${port}" 2 "${master}" 2>/dev/null &&
      _postfix_wait_log "${port}" ': disconnect from ' 1 5 2>/dev/null; do
    if ! process_alive "${master}"; then
      reason="master(8) exited (it logs start-up errors to syslog only; try postfix -c DIR check)"
    elif grep -q ' fatal: ' "${log}" 2>/dev/null; then
      reason="a Postfix daemon failed: $(grep ' fatal: ' "${log}" | tail -n 1)"
    elif ((SECONDS >= deadline)); then
      reason="no greeting within ${HAYATE_START_TIMEOUT_S} s"
    fi
    if [[ -n "${reason}" ]]; then
      _hayate_show_log "${name}" "${log}"
      HAYATE_PID_LOGS[${master}]=""  # shown once is enough
      stop_postfix_smtpd "${port}"
      fail "${name} did not come up: ${reason}"
    fi
  done
}

# _postfix_main_cf DIR MODE CERT: main.cf for a test instance on stdout.
_postfix_main_cf() {
  local dir="$1" mode="$2" cert="${HAYATE_TEST_DIR}/$3"
  cat <<CF
# A private Postfix for one hayate integration test: loopback only, accepts mail for any
# domain from 127.0.0.0/8 and discards it. Generated by tests/integration/lib.sh.
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
myhostname = ${HAYATE_TLS_HOSTNAME}
mydomain = tls.test
myorigin = \$myhostname
inet_interfaces = ${HAYATE_LOOPBACK}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Nothing is local, nothing is relayed: every recipient goes to discard(8), logged as sent.
mydestination =
relay_domains =
relayhost =
local_recipient_maps =
alias_maps =
alias_database =
default_transport = discard:accepted by a test instance
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# No DNS: the client is "unknown[127.0.0.1]" (there may be no resolver on a test machine).
smtpd_peername_lookup = no
biff = no
CF
  if [[ "${mode}" != plain ]]; then
    cat <<CF
smtpd_tls_cert_file = ${cert}.crt
smtpd_tls_key_file = ${cert}.key
smtpd_tls_loglevel = 1
smtpd_tls_session_cache_database =
CF
  fi
  case "${mode}" in
    may) echo "smtpd_tls_security_level = may" ;;
    encrypt | wrapper) echo "smtpd_tls_security_level = encrypt" ;;
    broken)
      # TLS 1.3 suites cannot be limited to PSK, so TLS 1.2 only; PSK suites need a PSK
      # callback, which Postfix does not install, so no suite is ever usable.
      cat <<CF
smtpd_tls_security_level = may
smtpd_tls_protocols = >=TLSv1.2, <=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2, <=TLSv1.2
smtpd_tls_ciphers = high
smtpd_tls_mandatory_ciphers = high
tls_high_cipherlist = PSK
CF
      ;;
  esac
}

# _postfix_master_cf PORT MODE: master.cf for a test instance on stdout: no chroot (it would
# need copies of /etc files), only the services smtpd and the discard path use.
_postfix_master_cf() {
  local wrapper=""
  [[ "$2" != wrapper ]] || wrapper=" -o smtpd_tls_wrappermode=yes"
  cat <<CF
# service type  private unpriv chroot wakeup maxproc command
${HAYATE_LOOPBACK}:$1 inet n - n - - smtpd${wrapper}
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
}

# _postfix_wait_log PORT ERE COUNT [TIMEOUT_S]: returns once the instance's log (all of it) has
# at least COUNT lines matching ERE; status 1 at the deadline.
_postfix_wait_log() {
  local log deadline count timeout_s="${4:-0}"
  ((timeout_s > 0)) || timeout_s="${HAYATE_START_TIMEOUT_S}"
  log="$(postfix_maillog "$1")"
  deadline=$((SECONDS + timeout_s))
  while true; do
    count="$(grep -cE -- "$2" "${log}" 2>/dev/null || true)"
    ((${count:-0} >= $3)) && return 0
    ((SECONDS < deadline)) || { echo "no '$2' in ${log} after the deadline" >&2; return 1; }
    sleep 0.05
  done
}

# postfix_log_count PORT ERE: lines of the instance's log matching ERE (grep -E), counting only
# what was logged after start_postfix_smtpd returned (its readiness probe is not counted).
postfix_log_count() {
  local dir start
  dir="$(_postfix_dir "$1")"
  [[ -f "${dir}/log-start" ]] || fail "postfix_log_count: no Postfix was started on port $1"
  start="$(cat "${dir}/log-start")"
  tail -n "+$((start + 1))" "${dir}/maillog" | grep -cE -- "$2" || true
}

# postfix_accepted_count PORT: messages smtpd accepted (250 after DATA) and queued, one qmgr
# "from=<...>" line each; a few milliseconds after the reply, so poll with wait_until_eq.
postfix_accepted_count() {
  postfix_log_count "$1" 'postfix/qmgr\[[0-9]+\]: [0-9A-Za-z]+: from=<'
}

# postfix_recipients_count PORT: recipients of accepted messages, discarded as "sent".
postfix_recipients_count() {
  postfix_log_count "$1" 'postfix/discard\[[0-9]+\]: [0-9A-Za-z]+: to=<.*status=sent'
}

# postfix_tls_sessions PORT: TLS handshakes smtpd completed (STARTTLS or wrapper mode).
postfix_tls_sessions() {
  postfix_log_count "$1" 'postfix/smtpd\[[0-9]+\]: .*TLS connection established from '
}

# postfix_sessions PORT: SMTP connections smtpd accepted.
postfix_sessions() {
  postfix_log_count "$1" 'postfix/smtpd\[[0-9]+\]: connect from '
}

# _postfix_instance_pids PORT MASTER_PID: daemons of the instance still running: processes
# in the master's process group (its daemons never leave it) whose environment names the
# instance's config dir, so that a recycled PID never makes us touch a stranger. Bash builtins
# only: it runs in a loop.
_postfix_instance_pids() {
  local config="MAIL_CONFIG=$(_postfix_dir "$1")/etc" proc stat
  local -a fields environment
  for proc in /proc/[0-9]*; do
    { read -r stat <"${proc}/stat"; } 2>/dev/null || continue
    read -r -a fields <<<"${stat##*) }"  # state ppid pgrp ...
    [[ "${fields[2]}" == "$2" && "${fields[0]}" != Z && "${fields[0]}" != X ]] || continue
    { mapfile -d '' -t environment <"${proc}/environ"; } 2>/dev/null || continue
    [[ " ${environment[*]} " != *" ${config} "* ]] || printf '%s\n' "${proc#/proc/}"
  done
}

# stop_postfix_smtpd PORT: SIGTERM to the master (it stops its daemons), then waits until no
# process of the instance is left, killing stragglers at HAYATE_STOP_TIMEOUT_S.
stop_postfix_smtpd() {
  local dir master deadline pids
  dir="$(_postfix_dir "$1")"
  [[ -f "${dir}/master.test-pid" ]] || return 0
  master="$(cat "${dir}/master.test-pid")"
  stop_process "${master}"
  deadline=$((SECONDS + HAYATE_STOP_TIMEOUT_S))
  while pids="$(_postfix_instance_pids "$1" "${master}")" && [[ -n "${pids}" ]]; do
    if ((SECONDS >= deadline)); then
      printf 'warning: postfix:%s left processes %s: killing them\n' "$1" "${pids//$'\n'/ }" >&2
      # shellcheck disable=SC2086  # one PID per word
      kill -KILL ${pids} 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
}

# write_campaign DIR RECIPIENTS_CSV_TEXT [TOML_TAIL]: a job DIR/job.toml with a text body
# ("Hello {{first_name}}") and the given recipients (CSV text, header included). TOML_TAIL is
# appended as is: [delivery] settings, [routes], [dns].
write_campaign() {
  local dir="$1" csv="$2" tail="${3:-}"
  mkdir -p "${dir}"
  printf '%s\n' "${csv}" >"${dir}/recipients.csv"
  printf 'Hello {{first_name}},\nthis is a test.\n' >"${dir}/body.txt"
  cat >"${dir}/job.toml" <<TOML
[campaign]
id = "integration"
recipients = "recipients.csv"
from = "Tester <news@example.com>"
subject = "Hi {{first_name}}"
text = "body.txt"
${tail}
TOML
}

# run_hayate NAME ARGS...: runs our hayate binary (bounded by HAYATE_RUN_TIMEOUT_S, default 120;
# exit 124 when it ran out), keeps stderr in HAYATE_TEST_DIR/NAME.err
# and the exit code in HAYATE_EXIT (the test goes on whatever the code).
run_hayate() {
  local name="$1"
  shift
  set +e
  timeout "${HAYATE_RUN_TIMEOUT_S:-120}" "${HAYATE_BIN_DIR}/hayate" "$@" >"${HAYATE_TEST_DIR}/${name}.out" 2>"${HAYATE_TEST_DIR}/${name}.err" </dev/null
  HAYATE_EXIT=$?
  set -e
  sed "s/^/  ${name}: /" "${HAYATE_TEST_DIR}/${name}.err" >&2
}
