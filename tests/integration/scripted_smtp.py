#!/usr/bin/python3
"""A scripted SMTP peer for the traffic-shaping tests: it throttles the way mailbox providers do.

Each behaviour is switched on by its own flag, so that one test composes what it needs: a
sliding-window rate limit answered with Gmail's 421-4.7.28, a cap on concurrent connections
answered 421 at the greeting, Postfix/postgrey greylisting, a Yahoo-like TSS04 suspension that
ends (recovery), a dead MX (554 greeting, dropped or reset connections), and a time after which
every limit is lifted. Every connection, MAIL, RCPT and DATA reply and every accepted message
is written to a JSON Lines events log that scripted_report.py turns into exact counts. Runs on
Debian's python3-aiosmtpd, so start it with /usr/bin/python3; `--help` lists the flags.
"""

import argparse
import asyncio
import collections
import email.parser
import email.policy
import ipaddress
import json
import logging
import math
import os
import re
import signal
import socket
import struct
import sys
import time
from typing import Deque, Dict, List, Optional, Tuple

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

# Default replies. Lines are separated by "\n"; format_reply() sets the "-"/" " continuation
# marks (RFC 5321 4.2.1) and fills the {placeholders}: {ip} (client address), {rcpt}, {domain}
# (the recipient's), {sender}, {seconds} (greylisting time left), {hostname}, {id}.

# Gmail, as sent to a sender over its per-IP quota (tests/data/replies/gmail.txt; Google's
# https://support.google.com/a/answer/3726730 lists 421 4.7.28 "unusual rate of unsolicited
# mail"). The bracket holds the client address; the last line ends in a transaction id.
GMAIL_RATE_LIMIT_REPLY = (
    "421-4.7.28 [{ip}      15] Our system has detected an unusual rate of\n"
    "421-4.7.28 unsolicited mail originating from your IP address. To protect our\n"
    "421-4.7.28 users from spam, mail sent from your IP address has been temporarily\n"
    "421-4.7.28 rate limited. Please visit\n"
    "421-4.7.28  https://support.google.com/mail/?p=UnsolicitedRateLimitError to\n"
    "421 4.7.28 review our Bulk Email Senders Guidelines. {id} - gsmtp")
# Yahoo's TSS04 deferral (tests/data/replies/yahoo.txt;
# https://senders.yahooinc.com/smtp-error-codes/).
YAHOO_SUSPEND_REPLY = (
    "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or user "
    "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes")
# Exim's smtp_accept_max and smtp_accept_max_per_host texts, with RFC 3463's 4.7.0 (security
# or policy status) added as most providers do.
MAX_CONNECTIONS_REPLY = "421 4.7.0 Too many concurrent SMTP connections; please try again later"
MAX_CONNECTIONS_PER_IP_REPLY = (
    "421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again later")
# Postfix relaying postgrey's DEFER_IF_PERMIT: postgrey's --greylist-text with %s (the seconds
# left) as "Greylisted, please try again in %s seconds".
GREYLIST_REPLY = ("450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, please try "
                  "again in {seconds} seconds")
# RFC 5321 3.1: a server that offers no SMTP service may greet with 554, then answers 503 to
# everything but QUIT. RFC 3463 5.3.2: system not accepting network messages.
REFUSE_554_REPLY = "554 5.3.2 {hostname} No SMTP service here"
# RFC 5321 3.8 and 4.2.3: 421, service not available, closing transmission channel.
REFUSE_421_REPLY = "421 4.3.2 {hostname} Service not available, closing transmission channel"
BAD_SEQUENCE_REPLY = "503 5.5.1 Bad sequence of commands"
ACCEPT_MAIL_REPLY = "250 2.1.0 OK"
ACCEPT_RCPT_REPLY = "250 2.1.5 OK"
ACCEPT_DATA_REPLY = "250 2.0.0 OK queued as {id}"

REFUSE_MODES = ("554", "421", "drop", "reset")
EX_USAGE = 64
EX_OSERR = 71

log = logging.getLogger("scripted_smtp")

_REPLY_LINE = re.compile(r"^([2-5][0-9][0-9])(?:[ -](.*))?$")
_PLACEHOLDER = re.compile(r"\{([a-z]+)\}")


def format_reply(template: str, **values: str) -> str:
    """The reply for TEMPLATE, lines joined by CRLF, every line but the last marked "-" (RFC
    5321 4.2.1). Raises ValueError on a line without a code, on mixed codes or on non-ASCII."""
    # One pass, so that a value (a recipient address) is never expanded in turn.
    text = _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)),
                            template.replace("\\n", "\n"))
    lines = [line.rstrip("\r") for line in text.split("\n")]
    codes, texts = set(), []
    for line in lines:
        match = _REPLY_LINE.match(line)
        if not match:
            raise ValueError(f"reply line {line!r} does not start with a 2xx-5xx code")
        codes.add(match.group(1))
        texts.append(match.group(2) or "")
    if len(codes) != 1:
        raise ValueError(f"reply {template!r} mixes codes {sorted(codes)} (RFC 5321 4.2.1)")
    if not text.isascii():
        raise ValueError(f"reply {template!r} is not ASCII")
    code = codes.pop()
    lines = [f"{code}-{t}" for t in texts[:-1]]
    lines.append(f"{code} {texts[-1]}" if texts[-1] else code)  # RFC 5321 4.2: [SP textstring]
    return "\r\n".join(lines)


def reply_code(reply: str) -> int:
    return int(reply[:3])


def parse_rate(text: str) -> Tuple[int, Optional[float]]:
    """'N', 'N/s', 'N/min', 'N/h' or 'N/10s', 'N/2min': (N, window in seconds, or None when the
    window comes from --window)."""
    match = re.fullmatch(r"(\d+)(?:/(\d+(?:\.\d+)?)?(s|min|h))?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected N, N/s, N/min, N/h or N/<count><unit> such as 5/10s")
    count = int(match.group(1))
    if match.group(3) is None:
        return count, None
    multiple = float(match.group(2)) if match.group(2) else 1.0
    window_s = multiple * {"s": 1.0, "min": 60.0, "h": 3600.0}[match.group(3)]
    if window_s <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the window must be longer than 0 s")
    return count, window_s


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or more")
    return value


def positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text}: must be a number of seconds above 0")
    return value


class EventLog:
    """JSON Lines, one object per event, flushed per line so that a test reads it while the
    server runs. Every decision is taken on whole microseconds since the start (monotonic),
    the unit the log's `elapsed_s` is written in, so that scripted_report.py redoes the
    server's window arithmetic exactly; `time` is the Unix time of the same instant."""

    def __init__(self, path: Optional[str]) -> None:
        self.out = open(path, "w", encoding="utf-8") if path else None
        self.start_monotonic = time.monotonic()
        self.start_wall = time.time()

    def now(self) -> int:
        """Microseconds since the start."""
        return round((time.monotonic() - self.start_monotonic) * 1e6)

    def monotonic(self, t_us: int) -> float:
        """The monotonic clock (asyncio's loop.time()) at t_us."""
        return self.start_monotonic + t_us / 1e6

    def write(self, event: str, now: Optional[int] = None, **fields: object) -> None:
        t_us = self.now() if now is None else now
        record = {"event": event, "time": round(self.start_wall + t_us / 1e6, 6),
                  "elapsed_s": t_us / 1e6}
        record.update(fields)
        line = json.dumps(record, separators=(",", ":"))
        log.info("%s", line)
        if self.out is not None:
            self.out.write(line + "\n")
            self.out.flush()

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


def microseconds(seconds: float) -> int:
    return round(seconds * 1e6)


class SlidingWindow:
    """Accepted-message times (microseconds) in the window (now - window, now]."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_us = microseconds(window_s)
        self.times: Deque[int] = collections.deque()

    def count(self, now: int) -> int:
        while self.times and self.times[0] <= now - self.window_us:
            self.times.popleft()
        return len(self.times)

    def full(self, now: int) -> bool:
        return self.count(now) >= self.limit

    def add(self, now: int) -> None:
        self.times.append(now)


class Suspension:
    """--suspend-after N --suspend-for S for one scope (all clients, or one client IP)."""

    def __init__(self) -> None:
        self.accepted = 0  # since the start, or since the last recovery with --suspend-repeat
        self.until: Optional[int] = None  # end of the current or last suspension, us
        self.ended_logged = True
        self.count = 0  # suspensions started


class Scenario:
    """The configured behaviours and the state they share across connections."""

    def __init__(self, arguments: argparse.Namespace, events: EventLog) -> None:
        self.a = arguments
        self.events = events
        self.lift_at: Optional[int] = (microseconds(arguments.stop_throttling_after)
                                       if arguments.stop_throttling_after else None)
        self.lift_logged = False
        self.rate_global: Optional[SlidingWindow] = None
        if arguments.rate_limit is not None:
            count, window_s = arguments.rate_limit
            self.rate_global = SlidingWindow(count, window_s or arguments.window)
        self.rate_per_ip: Dict[str, SlidingWindow] = {}
        self.suspensions: Dict[str, Suspension] = collections.defaultdict(Suspension)
        self.greylist_first_seen: Dict[Tuple[str, str, str], int] = {}
        self.greylist_passed: set = set()
        self.open_total = 0
        self.open_per_ip: Dict[str, int] = collections.Counter()
        self.served_total = 0
        self.served_per_ip: Dict[str, int] = collections.Counter()
        self.sessions = 0
        self.messages = 0
        self.protocols: set = set()

    # --- stop-throttling-after
    def lifted(self, now: int) -> bool:
        if self.lift_at is None or now < self.lift_at:
            return False
        if not self.lift_logged:
            self.lift_logged = True
            self.events.write("throttling_stopped", now=now)
        return True

    # --- rate limits
    def rate_windows(self, ip: str) -> List[Tuple[str, SlidingWindow]]:
        windows = []
        if self.rate_global is not None:
            windows.append(("rate_limit", self.rate_global))
        if self.a.rate_limit_per_ip is not None:
            if ip not in self.rate_per_ip:
                count, window_s = self.a.rate_limit_per_ip
                self.rate_per_ip[ip] = SlidingWindow(count, window_s or self.a.window)
            windows.append(("rate_limit_per_ip", self.rate_per_ip[ip]))
        return windows

    def rate_limited(self, ip: str, now: int) -> Optional[str]:
        """The throttle kind when a new message from IP would exceed a rate limit."""
        if self.lifted(now):
            return None
        for kind, window in self.rate_windows(ip):
            if window.full(now):
                return kind
        return None

    # --- suspension
    def suspension_scope(self, ip: str) -> str:
        return ip if self.a.suspend_per_ip else "*"

    def suspended(self, ip: str, now: int) -> bool:
        if self.a.suspend_after is None or self.lifted(now):
            return False
        suspension = self.suspensions[self.suspension_scope(ip)]
        if suspension.until is None:
            return False
        if now < suspension.until:
            return True
        self.end_suspension(self.suspension_scope(ip), now)
        return False

    def end_suspension(self, scope: str, now: int) -> None:
        suspension = self.suspensions[scope]
        if suspension.ended_logged:
            return
        suspension.ended_logged = True
        if self.a.suspend_repeat:
            suspension.accepted = 0
        self.events.write("suspend_end", now=now, scope=scope)

    def count_for_suspension(self, ip: str, now: int) -> None:
        if self.a.suspend_after is None or self.lifted(now):
            return
        scope = self.suspension_scope(ip)
        suspension = self.suspensions[scope]
        if suspension.until is not None and not (self.a.suspend_repeat and
                                                 suspension.ended_logged):
            return  # suspended now, or once already without --suspend-repeat
        suspension.accepted += 1
        if suspension.accepted < self.a.suspend_after:
            return
        until = now + microseconds(self.a.suspend_for)
        suspension.until = until
        suspension.ended_logged = False
        suspension.count += 1
        self.events.write("suspend_start", now=now, scope=scope, until_elapsed_s=until / 1e6,
                          after_messages=suspension.accepted)
        # asyncio may run a timer up to its clock resolution early: never log the end before it.
        asyncio.get_running_loop().call_at(
            self.events.monotonic(until),
            lambda: self.end_suspension(scope, max(until, self.events.now())))

    # --- greylisting (postgrey: the first attempt of a triple is deferred; a retry after the
    # delay passes and whitelists the triple)
    def greylist_seconds_left(self, ip: str, sender: str, rcpt: str, now: int) -> int:
        if not self.a.greylist or self.lifted(now):
            return 0
        key = (ip, sender.lower(), rcpt.lower())
        if key in self.greylist_passed:
            return 0
        first = self.greylist_first_seen.setdefault(key, now)
        left_us = first + microseconds(self.a.greylist) - now
        if left_us <= 0:
            self.greylist_passed.add(key)
            return 0
        return max(1, math.ceil(left_us / 1e6))

    # --- the greeting
    def greeting_refusal(self, ip: str, now: int) -> Tuple[Optional[str], Optional[str]]:
        """(throttle kind, reply template) when the connection from IP is refused, the reply
        being None for the drop and reset modes; (None, None) to serve it."""
        if self.lifted(now):
            return None, None
        if self.a.refuse:
            template = {"554": self.a.refuse_reply or REFUSE_554_REPLY,
                        "421": self.a.refuse_reply or REFUSE_421_REPLY}.get(self.a.refuse)
            return "refuse", template
        if self.a.suspend_at == "greeting" and self.suspended(ip, now):
            return "suspend", self.a.suspend_reply
        if self.a.max_connections is not None and self.served_total >= self.a.max_connections:
            return "max_connections", self.a.max_connections_reply
        if (self.a.max_connections_per_ip is not None and
                self.served_per_ip[ip] >= self.a.max_connections_per_ip):
            return "max_connections_per_ip", self.a.max_connections_per_ip_reply
        return None, None


class ScriptedSMTP(SMTP):
    """aiosmtpd's SMTP with the scenario's decisions at the greeting, MAIL, RCPT and the end of
    DATA, and every reply to those logged with the code actually sent."""

    def __init__(self, *args, scenario: Scenario, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scenario = scenario
        self.logging_command: Optional[Tuple[str, Dict[str, object]]] = None
        self.throttle: Optional[str] = None  # set by a hook when it answers with a throttle
        self.session_id = 0
        self.client_ip = ""
        self.client_port = 0
        self.refusal: Optional[Tuple[str, Optional[str]]] = None
        self.served = False
        self.counted = False
        # Set once the server closes: commands the client pipelined behind the closing reply
        # may still sit in the reader's buffer; they are neither executed nor answered.
        self.closing = False
        self.closed_by = "client"
        self.connected_at = 0  # us
        self.messages_accepted = 0
        self.reply_sequence = 0

    # --- connection accounting
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # a second call follows STARTTLS, which we never offer
        super().connection_made(transport)
        if not first:
            return
        scenario = self.scenario
        events = scenario.events
        now = events.now()
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.client_ip, self.client_port = str(peer[0]), int(peer[1])
        scenario.sessions += 1
        self.session_id = scenario.sessions
        self.connected_at = now
        kind, template = scenario.greeting_refusal(self.client_ip, now)
        scenario.open_total += 1
        scenario.open_per_ip[self.client_ip] += 1
        scenario.protocols.add(self)
        self.counted = True
        fields: Dict[str, object] = {}
        if kind is None:
            self.served = True
            scenario.served_total += 1
            scenario.served_per_ip[self.client_ip] += 1
            greeting = f"220 {self.hostname} {self.__ident__}"
        else:
            self.refusal = (kind, None if template is None else self.fill(template))
            greeting = self.refusal[1]
            fields["throttle"] = kind
            if greeting is None:
                fields["action"] = self.scenario.a.refuse
        events.write("connect", now=now, session=self.session_id, client_ip=self.client_ip,
                     client_port=self.client_port, concurrent=scenario.open_total,
                     concurrent_ip=scenario.open_per_ip[self.client_ip], served=self.served,
                     served_concurrent=scenario.served_total,
                     served_concurrent_ip=scenario.served_per_ip[self.client_ip],
                     code=reply_code(greeting) if greeting else None, reply=greeting, **fields)

    def connection_lost(self, error: Optional[Exception]) -> None:
        if self.counted:
            self.counted = False
            scenario = self.scenario
            scenario.open_total -= 1
            scenario.open_per_ip[self.client_ip] -= 1
            if self.served:
                scenario.served_total -= 1
                scenario.served_per_ip[self.client_ip] -= 1
            scenario.protocols.discard(self)
            now = scenario.events.now()
            scenario.events.write(
                "disconnect", now=now, session=self.session_id, client_ip=self.client_ip,
                client_port=self.client_port, concurrent=scenario.open_total,
                concurrent_ip=scenario.open_per_ip[self.client_ip],
                served_concurrent=scenario.served_total,
                served_concurrent_ip=scenario.served_per_ip[self.client_ip],
                closed_by=self.closed_by, messages=self.messages_accepted,
                duration_s=(now - self.connected_at) / 1e6)
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        self.closed_by = "server"
        super()._timeout_cb()

    def close_by_server(self, how: str = "server") -> None:
        self.closed_by = how
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def fill(self, template: str, **values: str) -> str:
        self.reply_sequence += 1
        return format_reply(template, ip=self.client_ip, hostname=self.hostname,
                            id=f"scripted-{self.session_id}-{self.reply_sequence}", **values)

    async def push(self, status) -> None:
        """Sends a reply, and logs it when it answers MAIL, RCPT or DATA (the code actually
        sent, aiosmtpd's own 5xx included), at the moment it is sent."""
        if self.closing:
            return
        await super().push(status)
        if self.logging_command is None:
            return
        event, fields = self.logging_command
        reply = status if isinstance(status, str) else status.decode("ascii", "replace")
        if event == "data":
            # DATA is answered twice: 354 (or an error), then after the data (RFC 5321 4.1.1.4).
            self.logging_command = ("data_end", {})
        else:
            self.logging_command = None
        if self.throttle is not None and event != "data":
            fields = dict(fields, throttle=self.throttle)
        self.scenario.events.write(event, session=self.session_id, client_ip=self.client_ip,
                                   code=reply_code(reply), reply=reply, **fields)
        if reply_code(reply) == 421 and not self.scenario.a.keep_open_after_421:
            self.close_by_server()  # RFC 5321 3.8: 421 closes the transmission channel

    async def _handle_client(self) -> None:
        if self.refusal is None:
            await super()._handle_client()
            return
        kind, reply = self.refusal
        if reply is None:  # --refuse drop / reset: no greeting at all
            self.closed_by = "server"
            if self.scenario.a.refuse == "reset":
                sock = self.transport.get_extra_info("socket")
                if sock is not None:  # SO_LINGER 0: close() sends RST (tcp(7))
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.transport.abort()
            else:
                self.transport.close()
            return
        await self.push(reply)
        if reply_code(reply) != 554:
            self.close_by_server()
            return
        # RFC 5321 3.1: after a 554 greeting, 503 to every command until QUIT.
        while self.transport is not None:
            try:
                line = await self._reader.readuntil()
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            self._reset_timeout()
            if line.strip().upper() == b"QUIT":
                await self.push("221 2.0.0 Bye")
                self.closed_by = "quit"
                self.transport.close()
                return
            await self.push(BAD_SEQUENCE_REPLY)

    # --- commands whose replies are logged
    async def _logged(self, event: str, command, arg: Optional[str], **fields: object) -> None:
        if self.closing:
            await asyncio.sleep(0)  # let connection_lost end the session
            return
        self.throttle = None
        self.logging_command = (event, fields)
        try:
            await command(arg)
        finally:
            self.logging_command = None

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str) -> None:
        sender = self._address_of(arg, "FROM:")
        await self._logged("mail", super().smtp_MAIL, arg, mail_from=sender)

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str) -> None:
        rcpt = self._address_of(arg, "TO:")
        await self._logged("rcpt", super().smtp_RCPT, arg, rcpt=rcpt)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        await self._logged("data", super().smtp_DATA, arg)

    @syntax("QUIT")
    async def smtp_STARTTLS(self, arg: str) -> None:
        """--broken-starttls: 220 to STARTTLS, then the connection is closed (or reset) before
        any TLS record: a broken handshake that is neither an alert nor garbage."""
        if not self.scenario.a.broken_starttls:
            await self.push("502 5.5.1 Command not implemented")
            return
        await self.push("220 2.0.0 Ready to start TLS")
        self.scenario.events.write("starttls", session=self.session_id, client_ip=self.client_ip,
                                   action=self.scenario.a.broken_starttls)
        if self.scenario.a.broken_starttls == "reset":
            sock = self.transport.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: close() sends RST (tcp(7))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.closed_by = "server"
            self.transport.abort()
        else:
            self.close_by_server()

    async def smtp_QUIT(self, arg: str) -> None:
        if not arg:
            self.closed_by = "quit"
        await super().smtp_QUIT(arg)

    def _address_of(self, arg: Optional[str], keyword: str) -> Optional[str]:
        """The address of a MAIL or RCPT argument as sent, for the log (None when malformed)."""
        if arg is None:
            return None
        stripped = self._strip_command_keyword(keyword, arg)
        if stripped is None:
            return None
        address, _ = self._getaddr(stripped)
        return address


class ScenarioHandler:
    """aiosmtpd handler hooks: the scenario's decisions for MAIL, RCPT and the end of DATA."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)

    def transaction_throttle(self, server: ScriptedSMTP, now: int,
                             stages: Tuple[str, ...]) -> Optional[Tuple[str, str]]:
        """(kind, reply) when a suspension or rate limit answers at this stage."""
        scenario = self.scenario
        arguments = scenario.a
        if arguments.suspend_at in stages and scenario.suspended(server.client_ip, now):
            return "suspend", server.fill(arguments.suspend_reply)
        if arguments.rate_limit_at in stages:
            kind = scenario.rate_limited(server.client_ip, now)
            if kind is not None:
                return kind, server.fill(arguments.rate_limit_reply)
        return None

    async def handle_EHLO(self, server: ScriptedSMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: List[str]) -> List[str]:
        """aiosmtpd's EHLO reply plus what the big providers announce: PIPELINING (RFC 2920;
        aiosmtpd answers pipelined commands in order) and ENHANCEDSTATUSCODES (RFC 2034),
        since every reply here carries one."""
        session.host_name = hostname  # aiosmtpd leaves it to a handler with this hook
        self.scenario.events.write("ehlo", session=server.session_id, client_ip=server.client_ip,
                                   name=hostname)
        extensions = ["250-ENHANCEDSTATUSCODES"]
        if not self.scenario.a.no_pipelining:
            extensions.insert(0, "250-PIPELINING")
        if self.scenario.a.broken_starttls:
            extensions.append("250-STARTTLS")
        return responses[:-1] + extensions + responses[-1:]

    async def handle_MAIL(self, server: ScriptedSMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list) -> str:
        now = self.scenario.events.now()
        throttle = self.transaction_throttle(server, now, ("greeting", "mail"))
        if throttle is not None:
            server.throttle = throttle[0]
            return throttle[1]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return ACCEPT_MAIL_REPLY

    async def handle_RCPT(self, server: ScriptedSMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list) -> str:
        now = self.scenario.events.now()
        throttle = self.transaction_throttle(server, now, ("rcpt",))
        if throttle is not None:
            server.throttle = throttle[0]
            return throttle[1]
        seconds_left = self.scenario.greylist_seconds_left(
            server.client_ip, envelope.mail_from or "", address, now)
        if seconds_left > 0:
            server.throttle = "greylist"
            return server.fill(self.scenario.a.greylist_reply, rcpt=address,
                               domain=address.rpartition("@")[2], sender=envelope.mail_from or "",
                               seconds=str(seconds_left))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return ACCEPT_RCPT_REPLY

    async def handle_DATA(self, server: ScriptedSMTP, session: Session,
                          envelope: Envelope) -> str:
        scenario = self.scenario
        now = scenario.events.now()
        # Checked again at the end of DATA whatever the stage: transactions of several
        # connections may all have passed MAIL before one of them filled the window, and the
        # limits must hold exactly for the report to be exact.
        throttle = self.transaction_throttle(server, now, ("greeting", "mail", "rcpt"))
        if throttle is not None:
            server.throttle = throttle[0]
            return throttle[1]
        for _, window in scenario.rate_windows(server.client_ip):
            window.add(now)
        scenario.messages += 1
        server.messages_accepted += 1
        queue_id = f"{server.session_id}.{server.messages_accepted}"
        headers = self.parser.parsebytes(envelope.original_content or b"")
        message_id = headers.get("Message-ID")
        scenario.events.write("message", now=now, session=server.session_id,
                              client_ip=server.client_ip, mail_from=envelope.mail_from,
                              recipients=list(envelope.rcpt_tos),
                              message_id=str(message_id).strip() if message_id else None,
                              size_bytes=len(envelope.original_content or b""),
                              queue_id=queue_id)
        scenario.count_for_suspension(server.client_ip, now)
        return format_reply(ACCEPT_DATA_REPLY, id=queue_id)


def scenario_arguments(path: str) -> List[str]:
    """A JSON scenario file as command-line arguments: {"rate_limit": "5/10s", "greylist": 2,
    "suspend_per_ip": true}. Keys are flag names (with _ or -); true is a bare flag, false and
    null leave it out."""
    try:
        with open(path, encoding="utf-8") as f:
            scenario = json.load(f)
    except (OSError, ValueError) as error:
        raise SystemExit(f"scripted_smtp: --scenario {path}: {error}")
    if not isinstance(scenario, dict):
        raise SystemExit(f"scripted_smtp: --scenario {path}: expected a JSON object")
    argv = []
    for key, value in scenario.items():
        flag = "--" + str(key).replace("_", "-")
        if flag == "--scenario":
            raise SystemExit(f"scripted_smtp: --scenario {path}: a scenario cannot nest")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (int, float, str)):
            argv += [flag, str(value)]
        else:
            raise SystemExit(f"scripted_smtp: --scenario {path}: {key}: expected a string, "
                             "number or boolean")
    return argv


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripted_smtp.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: /usr/bin/python3 scripted_smtp.py --host 127.0.0.2 --port 2525 "
               "--log events.jsonl --ready-file ready.json --rate-limit 5/10s --greylist 2")
    add = parser.add_argument
    add("--scenario", metavar="FILE", help="JSON object of flags (keys as flag names); flags on "
                                           "the command line override it")
    add("--host", default="127.0.0.1", help="loopback address to listen on (127.0.0.x or ::1)")
    add("--port", type=int, required=True, help="TCP port; 0 lets the kernel choose (see the "
                                                "ready file)")
    add("--hostname", default="mx.scripted.test", help="name in the greeting and EHLO reply")
    add("--log", metavar="FILE", help="events log, JSON Lines (truncated at start)")
    add("--ready-file", metavar="FILE", help='{"pid":...,"host":...,"port":...} written once '
                                             "listening")
    add("--verbose", action="store_true", help="also print every event to stderr")
    add("--window", type=positive_seconds, default=60.0, metavar="SECONDS",
        help="window of a rate limit given without a unit (default 60)")
    add("--rate-limit", type=parse_rate, metavar="N[/UNIT]",
        help="at most N accepted messages in any sliding window, over all clients: N/s, N/min, "
             "N/h, N/10s, or N (per --window)")
    add("--rate-limit-per-ip", type=parse_rate, metavar="N[/UNIT]",
        help="the same, counted per client IP (may be combined with --rate-limit)")
    add("--rate-limit-at", choices=("mail", "rcpt"), default="mail",
        help="command answered with the rate-limit reply (default mail); the end of DATA is "
             "always checked too")
    add("--rate-limit-reply", default=GMAIL_RATE_LIMIT_REPLY, metavar="REPLY",
        help="reply above the rate limit (default Gmail's 421-4.7.28, 6 lines)")
    add("--max-connections", type=non_negative_int, metavar="N",
        help="above N concurrent served connections, greet with 421 and close")
    add("--max-connections-per-ip", type=non_negative_int, metavar="N",
        help="the same, counted per client IP")
    add("--max-connections-reply", default=MAX_CONNECTIONS_REPLY, metavar="REPLY")
    add("--max-connections-per-ip-reply", default=MAX_CONNECTIONS_PER_IP_REPLY, metavar="REPLY")
    add("--greylist", type=positive_seconds, metavar="SECONDS",
        help="defer the first RCPT of each (client IP, MAIL FROM, RCPT TO) with 450 until "
             "SECONDS after its first attempt")
    add("--greylist-reply", default=GREYLIST_REPLY, metavar="REPLY",
        help="placeholders {rcpt} {domain} {sender} {seconds} (left, rounded up)")
    add("--suspend-after", type=non_negative_int, metavar="N",
        help="after N accepted messages, refuse every transaction for --suspend-for seconds")
    add("--suspend-for", type=positive_seconds, metavar="SECONDS")
    add("--suspend-per-ip", action="store_true", help="count and suspend per client IP")
    add("--suspend-repeat", action="store_true",
        help="after recovery, suspend again after N more messages (default: once)")
    add("--suspend-at", choices=("greeting", "mail", "rcpt"), default="mail",
        help="where a suspension answers (default mail; greeting also answers at MAIL)")
    add("--suspend-reply", default=YAHOO_SUSPEND_REPLY, metavar="REPLY",
        help="default Yahoo's 421 4.7.0 [TSS04]")
    add("--refuse", choices=REFUSE_MODES,
        help="a dead MX: greet with 554 (then 503 until QUIT) or 421 and close, or accept the "
             "TCP connection and close it at once (drop) or reset it (reset)")
    add("--refuse-reply", metavar="REPLY", help="greeting for --refuse 554 or 421")
    add("--stop-throttling-after", type=positive_seconds, metavar="SECONDS",
        help="lift every limit above this long after the start (logs throttling_stopped)")
    add("--keep-open-after-421", action="store_true",
        help="do not close the connection after a 421 reply (RFC 5321 3.8 says to close)")
    add("--broken-starttls", choices=("close", "reset"),
        help="announce STARTTLS, answer it 220, then close or reset the connection")
    add("--no-pipelining", action="store_true",
        help="do not announce PIPELINING (commands are still answered in order)")
    add("--timeout", type=positive_seconds, default=300.0, metavar="SECONDS",
        help="idle time before the server closes a connection (RFC 5321 4.5.3.2.7: 5 min)")
    return parser


def parse_arguments(argv: List[str]) -> argparse.Namespace:
    parser = build_parser()
    finder = argparse.ArgumentParser(add_help=False)
    finder.add_argument("--scenario")
    scenario_path = finder.parse_known_args(argv)[0].scenario
    if scenario_path:
        argv = scenario_arguments(scenario_path) + list(argv)
    arguments = parser.parse_args(argv)
    try:
        if not ipaddress.ip_address(arguments.host).is_loopback:
            parser.error(f"--host {arguments.host}: tests listen on loopback only")
    except ValueError:
        parser.error(f"--host {arguments.host}: not an IP address")
    if not 0 <= arguments.port < 65536:
        parser.error(f"--port {arguments.port}: not a TCP port")
    if (arguments.suspend_after is None) != (arguments.suspend_for is None):
        parser.error("--suspend-after and --suspend-for go together")
    if arguments.suspend_after == 0:
        parser.error("--suspend-after 0: use --refuse, or --suspend-after 1 or more")
    if arguments.refuse_reply and arguments.refuse not in ("554", "421"):
        parser.error("--refuse-reply needs --refuse 554 or --refuse 421")
    samples = {"ip": "127.0.0.1", "hostname": "h", "id": "i", "rcpt": "r@d", "domain": "d",
               "sender": "s@d", "seconds": "1"}
    for name in ("rate_limit_reply", "max_connections_reply", "max_connections_per_ip_reply",
                 "greylist_reply", "suspend_reply", "refuse_reply"):
        template = getattr(arguments, name)
        if template is None:
            continue
        try:
            reply = format_reply(template, **samples)
        except ValueError as error:
            parser.error(f"--{name.replace('_', '-')}: {error}")
        if not reply.startswith(("4", "5")):
            parser.error(f"--{name.replace('_', '-')}: a throttling reply must be 4xx or 5xx")
    if arguments.refuse_reply and not arguments.refuse_reply.startswith(arguments.refuse):
        parser.error(f"--refuse {arguments.refuse}: --refuse-reply must be a "
                     f"{arguments.refuse} reply")
    return arguments


def write_ready_file(path: str, host: str, port: int) -> None:
    temporary = f"{path}.tmp.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump({"pid": os.getpid(), "host": host, "port": port}, out)
        out.write("\n")
    os.replace(temporary, path)  # a reader never sees half a file


async def serve(arguments: argparse.Namespace) -> None:
    events = EventLog(arguments.log)
    scenario = Scenario(arguments, events)
    handler = ScenarioHandler(scenario)

    def make_protocol() -> SMTP:
        return ScriptedSMTP(handler, hostname=arguments.hostname, ident="ESMTP scripted",
                            timeout=arguments.timeout, scenario=scenario)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    server = await loop.create_server(make_protocol, host=arguments.host, port=arguments.port,
                                      reuse_address=True, backlog=128)
    port = server.sockets[0].getsockname()[1]
    config = {key: value for key, value in vars(arguments).items()
              if value is not None and value is not False and not key.endswith("_reply")}
    events.write("start", now=0, host=arguments.host, port=port,
                 pid=os.getpid(), config=config)
    if scenario.lift_at is not None:
        lift_at = scenario.lift_at
        loop.call_at(events.monotonic(lift_at),
                     lambda: scenario.lifted(max(lift_at, events.now())))
    if arguments.ready_file:
        write_ready_file(arguments.ready_file, arguments.host, port)
    print(f"scripted_smtp: listening on {arguments.host}:{port}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        for protocol in list(scenario.protocols):
            protocol.close_by_server("shutdown")
        # connection_lost runs on the next loop iterations: give them a moment, bounded.
        deadline = loop.time() + 2.0
        while scenario.protocols and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await server.wait_closed()
        events.write("stop", sessions=scenario.sessions, messages=scenario.messages)
        events.close()
    print("scripted_smtp: stopped", file=sys.stderr, flush=True)


def main(argv: List[str]) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO if arguments.verbose else logging.WARNING,
                        format="scripted_smtp: %(message)s")
    if not arguments.verbose:
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(arguments))
    except OSError as error:  # the port is taken, the log dir is missing...
        print(f"scripted_smtp: {error}", file=sys.stderr)
        return EX_OSERR
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
