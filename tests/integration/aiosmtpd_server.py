#!/usr/bin/python3
"""A real third-party SMTP peer for integration tests: aiosmtpd (Debian's python3-aiosmtpd).

aiosmtpd does not announce PIPELINING (RFC 2920), so it is our "server without PIPELINING"
peer: a client must wait for each reply. Failures are chosen by recipient local part, as with
hayate-sink, and counts are written to a JSON stats file that tests assert on. Run it with
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

from aiosmtpd.smtp import SMTP, Envelope, Session

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
            "data_fail": 0,
            "data_tempfail": 0,
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

    def __init__(self, stats: Stats, maildir: Optional[mailbox.Maildir]) -> None:
        self.stats = stats
        self.maildir = maildir
        self.flaky_seen: set = set()  # addresses as sent; a test sends few

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list) -> str:
        local = local_part(address)
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
                       recipients_delivered=len(envelope.rcpt_tos))
        return ACCEPT_DATA_REPLY


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
    parser.add_argument("--data-size-limit", type=int, default=33554432,
                        help="SIZE announced and enforced (RFC 1870), bytes")
    parser.add_argument("--verbose", action="store_true", help="log every session to stderr")
    arguments = parser.parse_args(argv)
    if not ipaddress.ip_address(arguments.host).is_loopback:
        parser.error(f"--host {arguments.host}: tests listen on loopback only")
    if not 0 < arguments.port < 65536:
        parser.error(f"--port {arguments.port}: not a TCP port")
    if bool(arguments.tls_cert) != bool(arguments.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return arguments


async def serve(arguments: argparse.Namespace) -> None:
    stats = Stats(arguments.stats_file)
    stats.write()  # the file exists, all zeros, before the first client arrives
    maildir = mailbox.Maildir(arguments.maildir, create=True) if arguments.maildir else None
    handler = FaultHandler(stats, maildir)
    tls_context = None
    if arguments.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(arguments.tls_cert, arguments.tls_key)

    def make_protocol() -> SMTP:
        stats.add(sessions=1)
        return SMTP(handler, hostname=arguments.hostname, ident="aiosmtpd",
                    data_size_limit=arguments.data_size_limit, tls_context=tls_context)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    server = await loop.create_server(make_protocol, host=arguments.host, port=arguments.port,
                                      reuse_address=True)
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
    try:
        asyncio.run(serve(arguments))
    except OSError as error:  # the port is taken, the stats dir is missing...
        print(f"aiosmtpd_server: {error}", file=sys.stderr)
        return 71  # EX_OSERR
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
