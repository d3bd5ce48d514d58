#!/usr/bin/env bash
# Ingest rate of `hayate bounces classify` over a generated Maildir of N bounces (default
# 100,000): builds the Maildir under a temp dir, times the command, prints messages/s.
# Usage: bash bench/bounce_ingest.sh [N] [BIN_DIR]   (BIN_DIR default: build/bin)
set -euo pipefail
count="${1:-100000}"
bin_dir="${2:-$(dirname "$0")/../build/bin}"
work="$(mktemp -d "${TMPDIR:-/tmp}/hayate-bounce-ingest.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Maildir/new" "$work/Maildir/cur" "$work/Maildir/tmp"
python3 - "$work/Maildir/new" "$count" <<'PY'
import sys
folder, count = sys.argv[1], int(sys.argv[2])
kinds = [("550", "5.1.1", "Recipient address rejected: User unknown"),
         ("552", "5.2.2", "Mailbox full"),
         ("554", "5.7.1", "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"),
         ("450", "4.4.1", "Connection timed out")]
for i in range(count):
    code, status, text = kinds[i % len(kinds)]
    action = "delayed" if code[0] == "4" else "failed"
    with open(f"{folder}/{i}.bench:2,", "w") as f:
        f.write(f"""From: MAILER-DAEMON@mx.example.com\nTo: bounces+{i}@bounce.example.com
Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B{i}"

--B{i}\nContent-Type: text/plain\n\n<user{i}@example.net>: host mx.example.net said: {code} {status} {text}

--B{i}\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; user{i}@example.net\nAction: {action}\nStatus: {status}
Diagnostic-Code: smtp; {code} {status} {text}

--B{i}--\n""")
PY
start=$(date +%s.%N)
lines=$("$bin_dir/hayate" bounces classify "$work/Maildir" | wc -l)
end=$(date +%s.%N)
python3 -c "import sys; n,l,s,e=int(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]); print(f'{n} messages, {l} findings in {e-s:.2f} s: {n/(e-s):,.0f} messages/s')" "$count" "$lines" "$start" "$end"
