#!/usr/bin/python3
"""Counts from a scripted_smtp.py events log, as one JSON object on stdout.

Accepted messages in total, per recipient (duplicates), per client IP; the most concurrent
connections; the most accepted messages in any sliding window of --window seconds; the reply
codes sent to greetings, MAIL, RCPT, DATA and the end of DATA; throttling replies and when the
server last sent one. Windows are redone on the
whole microseconds the server decided on, so they match its limits exactly. --settle (seconds
after the server's start) or --since (a Unix time) adds the same figures for the part of the
run after that point, under "after_settle": what a client did once it had time to react.
Exit 0; 65 with a message naming the line when the log is malformed; 66 when it is missing.
"""

import argparse
import collections
import json
import sys
from typing import Dict, Iterable, List, Optional, Tuple

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66

# Fields each event must carry (beyond event, time, elapsed_s), with their types.
REQUIRED = {
    "start": {"host": str, "port": int, "pid": int, "config": dict},
    "connect": {"session": int, "client_ip": str, "client_port": int, "concurrent": int,
                "concurrent_ip": int, "served": bool, "served_concurrent": int,
                "served_concurrent_ip": int},
    "disconnect": {"session": int, "client_ip": str, "concurrent": int, "closed_by": str,
                   "messages": int},
    "ehlo": {"session": int, "client_ip": str, "name": str},
    "mail": {"session": int, "client_ip": str, "code": int},
    "rcpt": {"session": int, "client_ip": str, "code": int},
    "data": {"session": int, "client_ip": str, "code": int},
    "data_end": {"session": int, "client_ip": str, "code": int},
    "message": {"session": int, "client_ip": str, "recipients": list, "queue_id": str},
    "suspend_start": {"scope": str, "until_elapsed_s": (int, float)},
    "suspend_end": {"scope": str},
    "throttling_stopped": {},
    "stop": {"sessions": int, "messages": int},
}
REPLY_EVENTS = ("connect", "mail", "rcpt", "data", "data_end")


class Malformed(Exception):
    pass


def microseconds(seconds: float) -> int:
    return round(seconds * 1e6)


def read_events(path: str) -> List[dict]:
    """Every event, checked: JSON objects with the fields their kind needs, times that never go
    back, a start event first, sessions that connect once and disconnect once."""
    events: List[dict] = []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        line = data.count(b"\n") + 1
        raise Malformed(f"{path}:{line}: the last line is cut short")
    last_us = 0
    for number, raw in enumerate(data.split(b"\n")[:-1] if data else [], start=1):
        where = f"{path}:{number}"
        try:
            event = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise Malformed(f"{where}: not JSON: {error}")
        if not isinstance(event, dict):
            raise Malformed(f"{where}: not a JSON object")
        kind = event.get("event")
        if kind not in REQUIRED:
            raise Malformed(f"{where}: unknown event {kind!r}")
        for key, types in dict(REQUIRED[kind], time=(int, float), elapsed_s=(int, float)).items():
            value = event.get(key)
            if not isinstance(value, types) or (types is int and isinstance(value, bool)):
                raise Malformed(f"{where}: {kind} event without a valid {key!r}")
        if kind in REPLY_EVENTS and kind != "connect" and not 200 <= event["code"] <= 599:
            raise Malformed(f"{where}: reply code {event['code']} out of range")
        t_us = microseconds(event["elapsed_s"])
        if t_us < last_us:
            raise Malformed(f"{where}: elapsed_s {event['elapsed_s']} goes back in time")
        last_us = t_us
        if (kind == "start") != (number == 1):
            raise Malformed(f"{where}: the start event must be the first line, and only it")
        event["_us"] = t_us
        event["_line"] = where
        events.append(event)
    if not events:
        raise Malformed(f"{path}: empty log (no start event)")
    return events


def max_in_window(times_us: Iterable[int], window_us: int) -> int:
    """The most times in any window (t - window, t], as the server counts."""
    times = sorted(times_us)
    best, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - window_us:
            first += 1
        best = max(best, last - first + 1)
    return best


def max_in_window_per_key(pairs: Iterable[Tuple[str, int]], window_us: int) -> Dict[str, int]:
    by_key: Dict[str, List[int]] = collections.defaultdict(list)
    for key, t_us in pairs:
        by_key[key].append(t_us)
    return {key: max_in_window(times, window_us) for key, times in sorted(by_key.items())}


class Concurrency:
    """Replays connect and disconnect: the most connections open at once, overall and per
    client IP, all of them or only those served (greeted 220), from a given time on."""

    def __init__(self, from_us: int) -> None:
        self.from_us = from_us
        self.open: Dict[int, Tuple[str, bool]] = {}
        self.closed: set = set()
        self.max = {"all": 0, "served": 0}
        self.max_ip: Dict[str, Dict[str, int]] = {"all": {}, "served": {}}

    def counts(self, ip: str) -> Dict[str, Tuple[int, int]]:
        all_total = len(self.open)
        all_ip = sum(1 for open_ip, _ in self.open.values() if open_ip == ip)
        served_total = sum(1 for _, served in self.open.values() if served)
        served_ip = sum(1 for open_ip, served in self.open.values() if served and open_ip == ip)
        return {"all": (all_total, all_ip), "served": (served_total, served_ip)}

    def note(self, ips: Iterable[str]) -> None:
        for ip in ips:
            for kind, (total, per_ip) in self.counts(ip).items():
                self.max[kind] = max(self.max[kind], total)
                self.max_ip[kind][ip] = max(self.max_ip[kind].get(ip, 0), per_ip)

    def reach(self, t_us: int, noted: List[bool]) -> None:
        """Before the first event at or after from_us: what is open then counts too."""
        if not noted[0] and t_us >= self.from_us:
            noted[0] = True
            self.note({ip for ip, _ in self.open.values()})

    def connect(self, event: dict) -> None:
        session = event["session"]
        if session in self.open or session in self.closed:
            raise Malformed(f"{event['_line']}: session {session} connects twice")
        ip = event["client_ip"]
        self.open[session] = (ip, event["served"])
        counts = self.counts(ip)
        logged = {"all": (event["concurrent"], event["concurrent_ip"]),
                  "served": (event["served_concurrent"], event["served_concurrent_ip"])}
        if counts != logged:
            raise Malformed(f"{event['_line']}: concurrent counts {logged} disagree with the "
                            f"connects and disconnects before it {counts}")
        if event["_us"] >= self.from_us:
            self.note([ip])

    def disconnect(self, event: dict) -> None:
        session = event["session"]
        if session not in self.open:
            raise Malformed(f"{event['_line']}: session {session} disconnects without a connect")
        del self.open[session]
        self.closed.add(session)
        if event["concurrent"] != len(self.open):
            raise Malformed(f"{event['_line']}: concurrent {event['concurrent']} disagrees with "
                            f"{len(self.open)} open connections")

    def result(self) -> dict:
        return {"max_concurrent": self.max["all"],
                "max_concurrent_per_ip": dict(sorted(self.max_ip["all"].items())),
                "max_concurrent_served": self.max["served"],
                "max_concurrent_served_per_ip": dict(sorted(self.max_ip["served"].items()))}


def summarize(events: List[dict], window_us: int, settle_us: Optional[int]) -> dict:
    whole = Concurrency(0)
    settled = Concurrency(settle_us if settle_us is not None else 0)
    noted_whole, noted_settled = [False], [False]
    per_recipient: Dict[str, int] = collections.Counter()
    per_message_id: Dict[str, int] = collections.Counter()
    messages_per_ip: Dict[str, int] = collections.Counter()
    message_times: List[Tuple[str, int]] = []
    mail_times: List[Tuple[str, int]] = []
    codes: Dict[str, int] = collections.Counter()
    codes_settled: Dict[str, int] = collections.Counter()
    codes_by_command: Dict[str, Dict[str, int]] = {kind: collections.Counter()
                                                    for kind in REPLY_EVENTS}
    throttles: Dict[str, int] = collections.Counter()
    throttles_settled: Dict[str, int] = collections.Counter()
    throttle_times: List[dict] = []
    suspensions: List[dict] = []
    sessions = {"all": 0, "refused": 0}
    recipients = 0
    stopped = None
    throttling_stopped = None
    for event in events:
        kind, t_us = event["event"], event["_us"]
        after = settle_us is not None and t_us >= settle_us
        whole.reach(t_us, noted_whole)
        settled.reach(t_us, noted_settled)
        if kind == "connect":
            whole.connect(event)
            settled.connect(event)
            sessions["all"] += 1
            sessions["refused"] += 0 if event["served"] else 1
        elif kind == "disconnect":
            whole.disconnect(event)
            settled.disconnect(event)
        elif kind == "message":
            recipients += len(event["recipients"])
            for rcpt in event["recipients"]:
                if not isinstance(rcpt, str):
                    raise Malformed(f"{event['_line']}: a recipient is not a string")
                per_recipient[rcpt] += 1
            if event.get("message_id"):
                per_message_id[event["message_id"]] += 1
            messages_per_ip[event["client_ip"]] += 1
            message_times.append((event["client_ip"], t_us))
        elif kind == "mail":
            mail_times.append((event["client_ip"], t_us))
        elif kind == "suspend_start":
            suspensions.append({"scope": event["scope"], "start_elapsed_s": event["elapsed_s"],
                                "until_elapsed_s": event["until_elapsed_s"],
                                "end_elapsed_s": None})
        elif kind == "suspend_end":
            open_ones = [s for s in suspensions
                         if s["scope"] == event["scope"] and s["end_elapsed_s"] is None]
            if not open_ones:
                raise Malformed(f"{event['_line']}: suspend_end without a suspend_start")
            open_ones[0]["end_elapsed_s"] = event["elapsed_s"]
        elif kind == "throttling_stopped":
            throttling_stopped = event["elapsed_s"]
        elif kind == "stop":
            stopped = event["elapsed_s"]
        if kind in REPLY_EVENTS and event.get("code") is not None:
            code = str(event["code"])
            codes[code] += 1
            codes_by_command[kind][code] += 1
            if after:
                codes_settled[code] += 1
        if event.get("throttle") is not None:
            throttles[str(event["throttle"])] += 1
            if after:
                throttles_settled[str(event["throttle"])] += 1
            throttle_times.append(event)
    start = events[0]
    report = {
        "server": f"{start['host']}:{start['port']}",
        "window_s": window_us / 1e6,
        "duration_s": events[-1]["elapsed_s"],
        "stopped": stopped is not None,
        "sessions": sessions["all"],
        "sessions_refused": sessions["refused"],
        "messages": len(message_times),
        "recipients": recipients,
        "per_recipient": dict(sorted(per_recipient.items())),
        "duplicate_recipients": {k: v for k, v in sorted(per_recipient.items()) if v > 1},
        "duplicate_message_ids": {k: v for k, v in sorted(per_message_id.items()) if v > 1},
        "messages_per_ip": dict(sorted(messages_per_ip.items())),
        "max_messages_in_window": max_in_window((t for _, t in message_times), window_us),
        "max_messages_in_window_per_ip": max_in_window_per_key(message_times, window_us),
        "max_transactions_in_window": max_in_window((t for _, t in mail_times), window_us),
        "codes": dict(sorted(codes.items())),
        "codes_by_command": {kind: dict(sorted(counts.items()))
                             for kind, counts in codes_by_command.items()},
        "throttles": dict(sorted(throttles.items())),
        "first_throttle_elapsed_s": throttle_times[0]["elapsed_s"] if throttle_times else None,
        "last_throttle_elapsed_s": throttle_times[-1]["elapsed_s"] if throttle_times else None,
        "last_throttle_time": throttle_times[-1]["time"] if throttle_times else None,
        "throttling_stopped_elapsed_s": throttling_stopped,
        "suspensions": suspensions,
    }
    report.update(whole.result())
    if settle_us is not None:
        settled.reach(settle_us, noted_settled)  # the run ended before the settle time
        late_messages = [(ip, t) for ip, t in message_times if t >= settle_us]
        late_mails = [(ip, t) for ip, t in mail_times if t >= settle_us]
        report["after_settle"] = dict(
            {"settle_s": settle_us / 1e6,
             "messages": len(late_messages),
             "max_messages_in_window": max_in_window((t for _, t in late_messages), window_us),
             "max_messages_in_window_per_ip": max_in_window_per_key(late_messages, window_us),
             "max_transactions_in_window": max_in_window((t for _, t in late_mails), window_us),
             "codes": dict(sorted(codes_settled.items())),
             "throttles": dict(sorted(throttles_settled.items()))},
            **settled.result())
    return report


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="scripted_report.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: /usr/bin/python3 scripted_report.py events.jsonl --window 10 --settle 5")
    parser.add_argument("log", help="events log written by scripted_smtp.py --log")
    parser.add_argument("--window", type=float, metavar="SECONDS",
                        help="sliding window for max_*_in_window (default: the server's "
                             "rate-limit window, else 60)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--settle", type=float, metavar="SECONDS",
                       help="after_settle covers events this long after the server's start")
    group.add_argument("--since", type=float, metavar="UNIX_TIME",
                       help="after_settle covers events from this Unix time on")
    arguments = parser.parse_args(argv)
    if arguments.window is not None and not arguments.window > 0:
        parser.error("--window must be above 0")
    try:
        events = read_events(arguments.log)
        window_s = arguments.window
        if window_s is None:
            config = events[0]["config"]
            rate = config.get("rate_limit") or config.get("rate_limit_per_ip")
            window_s = (rate[1] if isinstance(rate, list) and len(rate) == 2 and rate[1]
                        else config.get("window", 60.0))
        settle_us = None
        if arguments.settle is not None:
            settle_us = microseconds(arguments.settle)
        elif arguments.since is not None:
            settle_us = microseconds(arguments.since - events[0]["time"])
        report = summarize(events, microseconds(window_s), settle_us)
    except FileNotFoundError as error:
        print(f"scripted_report: {error}", file=sys.stderr)
        return EX_NOINPUT
    except OSError as error:
        print(f"scripted_report: {error}", file=sys.stderr)
        return EX_NOINPUT
    except Malformed as error:
        print(f"scripted_report: malformed log: {error}", file=sys.stderr)
        return EX_DATAERR
    json.dump(report, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
