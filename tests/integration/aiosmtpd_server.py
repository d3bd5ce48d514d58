#!/usr/bin/python3
"""A real third-party SMTP peer for integration tests: aiosmtpd (Debian's python3-aiosmtpd).

aiosmtpd does not announce PIPELINING (RFC 2920), so it is our "server without PIPELINING"
peer: a client must wait for each reply. Failures are chosen by recipient local part, as with
hayate-sink, and counts are written to a JSON stats file that tests assert on. With
--auth-user and --auth-password it is also our SMTP AUTH peer (RFC 4954: PLAIN and LOGIN,
offered only once the connection is encrypted, by STARTTLS or --implicit-tls). Run it with
/usr/bin/python3, the interpreter that sees Debian's python3-aiosmtpd.
"""

import argparse
import asyncio
import ipaddress
import json
import logging
import mailbox
import os
import signal
import ssl
import sys
from typing import Optional

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

# Fault modes, chosen by the prefix of the recipient's local part (case-insensitive, longest
# prefix first), with the replies and counter names of hayate-sink (tools/sink), so one test
# can run against either server.
DATATEMPFAIL_PREFIX = "datatempfail"  # accepted; 451 4.3.0 at the end of DATA
DATAFAIL_PREFIX = "datafail"  # accepted; 554 5.6.0 at the end of DATA
TEMPFAIL_PREFIX = "tempfail"  # 451 4.3.0 at RCPT
BOUNCE_PREFIX = "bounce"  # 550 5.1.1 at RCPT
FLAKY_PREFIX = "flaky"  # the first RCPT for an address gets 451 4.3.0, later ones 250
TRY_AGAIN_REPLY = "451 4.3.0 Try again later"  # RFC 3463 4.3.0: other mail system status
USER_UNKNOWN_REPLY = "550 5.1.1 User unknown"  # RFC 3463 5.1.1: bad destination mailbox
MESSAGE_REJECTED_REPLY = "554 5.6.0 Message rejected"  # RFC 3463 5.6.0: other media error
ACCEPT_RCPT_REPLY = "250 2.1.5 OK"
ACCEPT_DATA_REPLY = "250 2.0.0 Message accepted"

log = logging.getLogger("aiosmtpd_server")


def local_part(address: str) -> str:
    """The local part of an RCPT address, lowercased, without an opening quote."""
    at = address.rfind("@")
    local = (address[:at] if at >= 0 else address).lower()
    return local[1:] if local.startswith('"') else local


class Stats:
    """Counters a test asserts on, named as hayate-sink's, rewritten atomically after every
    event so that a reader never sees half a file."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self.counts = {
            "sessions": 0,  # connections accepted
            "messages": 0,  # messages answered 250 at the end of DATA
            "recipients": 0,  # RCPTs answered 250, including those of messages refused later
            "rcpt_rejected": 0,  # RCPTs answered 4xx or 5xx
            "bytes": 0,  # RFC 1870 size of the accepted messages, summed
            "data_rejected": 0,  # messages answered 4xx or 5xx at the end of DATA
            "recipients_delivered": 0,  # accepted recipients of accepted messages
            "rcpt_tempfail": 0,
            "rcpt_bounce": 0,
            "rcpt_flaky": 0,
            "rcpt_scripted": 0,  # RCPTs answered from --replies
            "data_fail": 0,
            "data_tempfail": 0,
            "tls_sessions": 0,  # STARTTLS handshakes completed, or implicit TLS connections
            "auth_ok": 0,  # AUTH answered 235 2.7.0
            "auth_failed": 0,  # AUTH answered 535 5.7.8: wrong user name or password
            "auth_plain": 0,  # AUTH commands naming PLAIN (RFC 4616), whatever the outcome
            "auth_login": 0,  # AUTH commands naming LOGIN, whatever the outcome
            "auth_plaintext": 0,  # AUTH commands on an unencrypted connection (538 unless
                                  # --auth-without-tls): credentials a client exposed
            "messages_authenticated": 0,  # messages accepted in an authenticated session
        }

    def add(self, **deltas: int) -> None:
        for key, delta in deltas.items():
            self.counts[key] += delta
        self.write()

    def write(self) -> None:
        if not self.path:
            return
        temporary_path = f"{self.path}.tmp.{os.getpid()}"
        with open(temporary_path, "w", encoding="utf-8") as out:
            json.dump(self.counts, out)
            out.write("\n")
        os.replace(temporary_path, self.path)  # rename(2) is atomic within a file system


class FaultHandler:
    """aiosmtpd handler: accepts everything except the recipients that ask for a failure."""

    def __init__(self, stats: Stats, maildir: Optional[mailbox.Maildir],
                 replies: Optional[dict] = None) -> None:
        self.stats = stats
        self.maildir = maildir
        self.flaky_seen: set = set()  # addresses as sent; a test sends few
        self.replies = replies or {}  # local part -> the reply its RCPT gets (--replies)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list) -> str:
        local = local_part(address)
        if local in self.replies:
            self.stats.add(rcpt_rejected=1, rcpt_scripted=1)
            return self.replies[local]
        if local.startswith(TEMPFAIL_PREFIX):
            self.stats.add(rcpt_rejected=1, rcpt_tempfail=1)
            return TRY_AGAIN_REPLY
        if local.startswith(BOUNCE_PREFIX):
            self.stats.add(rcpt_rejected=1, rcpt_bounce=1)
            return USER_UNKNOWN_REPLY
        if local.startswith(FLAKY_PREFIX) and address not in self.flaky_seen:
            self.flaky_seen.add(address)
            self.stats.add(rcpt_rejected=1, rcpt_flaky=1)
            return TRY_AGAIN_REPLY
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(rcpt_options)
        self.stats.add(recipients=1)
        return ACCEPT_RCPT_REPLY

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        locals_ = [local_part(rcpt) for rcpt in envelope.rcpt_tos]
        # A permanent failure wins over a temporary one, as in hayate-sink.
        if any(local.startswith(DATAFAIL_PREFIX) for local in locals_):
            self.stats.add(data_rejected=1, data_fail=1)
            return MESSAGE_REJECTED_REPLY
        if any(local.startswith(DATATEMPFAIL_PREFIX) for local in locals_):
            self.stats.add(data_rejected=1, data_tempfail=1)
            return TRY_AGAIN_REPLY
        if self.maildir is not None:
            # Envelope first, in the headers Postfix's local delivery adds (Return-Path,
            # X-Original-To), so a test can check what was sent without parsing our format.
            trace = f"Return-Path: <{envelope.mail_from}>\r\n"
            trace += "".join(f"X-Original-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos)
            self.maildir.add(trace.encode("utf-8") + envelope.original_content)
        self.stats.add(messages=1, bytes=len(envelope.original_content),
                       recipients_delivered=len(envelope.rcpt_tos),
                       messages_authenticated=1 if session.authenticated else 0)
        return ACCEPT_DATA_REPLY

    def handle_STARTTLS(self, server: SMTP, session: Session, envelope: Envelope) -> bool:
        """Called by aiosmtpd once the STARTTLS handshake is done (not awaited)."""
        self.stats.add(tls_sessions=1)
        return True  # no client certificate check: we never ask for one


class Authenticator:
    """aiosmtpd authenticator for PLAIN and LOGIN: one user, one password, compared as bytes.
    aiosmtpd answers 235 2.7.0 on success and 535 5.7.8 otherwise (RFC 4954 6)."""

    def __init__(self, stats: Stats, user: str, password: str) -> None:
        self.stats = stats
        self.user = user.encode("utf-8")
        self.password = password.encode("utf-8")

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user and
              auth_data.password == self.password)
        if ok:
            self.stats.add(auth_ok=1)
            log.info("AUTH %s ok for %r", mechanism, auth_data.login)
        else:
            self.stats.add(auth_failed=1)
            log.info("AUTH %s failed", mechanism)
        return AuthResult(success=ok, handled=False)


class CountingSMTP(SMTP):
    """aiosmtpd's SMTP, counting AUTH commands before aiosmtpd decides on them (a 538 for
    AUTH in the clear is decided before any handler hook runs)."""

    def __init__(self, *args, stats: Stats, implicit_tls: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stats = stats
        self.implicit_tls = implicit_tls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # With implicit TLS, asyncio calls this only once the handshake succeeded.
        if self.implicit_tls:
            self.stats.add(tls_sessions=1)
        super().connection_made(transport)

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        mechanism = arg.split()[0].upper() if arg.split() else ""
        encrypted = self.implicit_tls or self._tls_protocol is not None
        self.stats.add(auth_plaintext=0 if encrypted else 1,
                       auth_plain=1 if mechanism == "PLAIN" else 0,
                       auth_login=1 if mechanism == "LOGIN" else 0)
        await super().smtp_AUTH(arg)


def parse_arguments(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: /usr/bin/python3 aiosmtpd_server.py --port 2525 "
               "--stats-file /tmp/t/stats.json --pid-file /tmp/t/aiosmtpd.pid")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stats-file", help="JSON counters, rewritten after every event")
    parser.add_argument("--maildir", help="store each accepted message in this Maildir")
    parser.add_argument("--pid-file", help="written once listening, removed on exit")
    parser.add_argument("--hostname", default="aiosmtpd.test",
                        help="name in the greeting and EHLO reply (no DNS lookup)")
    parser.add_argument("--tls-cert", help="PEM certificate: announce STARTTLS (RFC 3207)")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--implicit-tls", action="store_true",
                        help="TLS from the first byte, as on port 465 (RFC 8314 3.3), "
                             "instead of STARTTLS; needs --tls-cert")
    parser.add_argument("--require-starttls", action="store_true",
                        help="530 to every command but EHLO, NOOP, QUIT and STARTTLS until "
                             "STARTTLS is done")
    parser.add_argument("--auth-user", help="accept AUTH PLAIN and LOGIN (RFC 4954) for this "
                                            "user name and --auth-password; others get 535 5.7.8")
    parser.add_argument("--auth-password", help="the password of --auth-user")
    parser.add_argument("--auth-required", action="store_true",
                        help="530 5.7.0 to MAIL until the client authenticated")
    parser.add_argument("--auth-without-tls", action="store_true",
                        help="offer and accept AUTH on an unencrypted connection too (to test "
                             "that a client refuses to send credentials in the clear)")
    parser.add_argument("--data-size-limit", type=int, default=33554432,
                        help="SIZE announced and enforced (RFC 1870), bytes")
    parser.add_argument("--replies", help="a file of LOCAL-PART<TAB>REPLY lines: the RCPT of "
                        "that local part gets that reply (a real server's words, one line)")
    parser.add_argument("--verbose", action="store_true", help="log every session to stderr")
    arguments = parser.parse_args(argv)
    if not ipaddress.ip_address(arguments.host).is_loopback:
        parser.error(f"--host {arguments.host}: tests listen on loopback only")
    if not 0 < arguments.port < 65536:
        parser.error(f"--port {arguments.port}: not a TCP port")
    if bool(arguments.tls_cert) != bool(arguments.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if arguments.implicit_tls and not arguments.tls_cert:
        parser.error("--implicit-tls needs --tls-cert and --tls-key")
    if arguments.require_starttls and (not arguments.tls_cert or arguments.implicit_tls):
        parser.error("--require-starttls needs --tls-cert and --tls-key, without --implicit-tls")
    if (arguments.auth_user is None) != (arguments.auth_password is None):
        parser.error("--auth-user and --auth-password go together")
    if (arguments.auth_required or arguments.auth_without_tls) and arguments.auth_user is None:
        parser.error("--auth-required and --auth-without-tls need --auth-user")
    if (arguments.auth_user is not None and not arguments.tls_cert and
            not arguments.auth_without_tls):
        parser.error("--auth-user needs --tls-cert and --tls-key: AUTH is offered only over "
                     "TLS (or give --auth-without-tls)")
    return arguments


async def serve(arguments: argparse.Namespace) -> None:
    stats = Stats(arguments.stats_file)
    stats.write()  # the file exists, all zeros, before the first client arrives
    maildir = mailbox.Maildir(arguments.maildir, create=True) if arguments.maildir else None
    replies = {}
    if arguments.replies:
        with open(arguments.replies, encoding="utf-8") as lines:
            for line in lines:
                local, _, reply = line.rstrip("\n").partition("\t")
                if local and reply:
                    replies[local.lower()] = reply
    handler = FaultHandler(stats, maildir, replies)
    tls_context = None
    if arguments.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(arguments.tls_cert, arguments.tls_key)
    auth_options: dict = {}
    if arguments.auth_user is not None:
        auth_options = {
            "authenticator": Authenticator(stats, arguments.auth_user, arguments.auth_password),
            "auth_required": arguments.auth_required,
            # With implicit TLS the whole connection is encrypted, but aiosmtpd only knows
            # about STARTTLS: it would refuse AUTH with 538 unless told not to check.
            "auth_require_tls": not (arguments.auth_without_tls or arguments.implicit_tls),
        }

    def make_protocol() -> SMTP:
        stats.add(sessions=1)
        return CountingSMTP(handler, hostname=arguments.hostname, ident="aiosmtpd",
                            data_size_limit=arguments.data_size_limit,
                            tls_context=None if arguments.implicit_tls else tls_context,
                            require_starttls=arguments.require_starttls,
                            stats=stats, implicit_tls=arguments.implicit_tls, **auth_options)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    server = await loop.create_server(make_protocol, host=arguments.host, port=arguments.port,
                                      reuse_address=True,
                                      ssl=tls_context if arguments.implicit_tls else None)
    if arguments.pid_file:
        with open(arguments.pid_file, "w", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")
    log.info("listening on %s:%d", arguments.host, arguments.port)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        stats.write()
        if arguments.pid_file:
            try:
                os.unlink(arguments.pid_file)
            except FileNotFoundError:
                pass
    log.info("stopped")


def main(argv: list) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO if arguments.verbose else logging.WARNING,
                        format="aiosmtpd_server: %(levelname)s %(name)s: %(message)s")
    # aiosmtpd 1.4 warns about its own legacy attribute on every successful AUTH: noise in the
    # log a failing test shows.
    logging.getLogger("mail.log").addFilter(
        lambda record: "login_data is deprecated" not in record.getMessage())
    try:
        asyncio.run(serve(arguments))
    except OSError as error:  # the port is taken, the stats dir is missing...
        print(f"aiosmtpd_server: {error}", file=sys.stderr)
        return 71  # EX_OSERR
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
