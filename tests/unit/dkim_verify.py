#!/usr/bin/python3
# Independent DKIM verification for tests/unit/dkim_test.cc: dkimpy (Debian python3-dkim, with
# python3-nacl for Ed25519) checks every DKIM-Signature of every message, keys served from a
# file instead of DNS.
#   usage: dkim_verify.py DIR
#   DIR/keys.txt   lines "SELECTOR._domainkey.DOMAIN.<TAB>v=DKIM1; k=...; p=..."
#   DIR/*.eml      messages (CRLF line endings)
# Prints one line per message, sorted by file name: "NAME pass fail ...", one word per
# DKIM-Signature from the top, or "NAME none"; then, after a tab, why signatures failed.
import logging
import os
import sys

import dkim


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: dkim_verify.py DIR\n")
        return 64
    directory = sys.argv[1]
    keys = {}
    with open(os.path.join(directory, "keys.txt"), "rb") as keys_file:
        for line in keys_file:
            line = line.rstrip(b"\r\n")
            if line:
                name, value = line.split(b"\t", 1)
                keys[name.lower()] = value

    def dnsfunc(name, timeout=5):
        return keys.get(name.lower())

    logged = []  # what dkimpy logs while verifying one signature

    class Collect(logging.Handler):
        def emit(self, record):
            logged.append(record.getMessage().replace("\n", " "))

    logger = logging.getLogger("dkim_verify")
    logger.addHandler(Collect())
    logger.setLevel(logging.ERROR)
    for file_name in sorted(os.listdir(directory)):
        if not file_name.endswith(".eml"):
            continue
        with open(os.path.join(directory, file_name), "rb") as message_file:
            message = message_file.read()
        count = sum(1 for name, _ in dkim.DKIM(message).headers
                    if name.lower() == b"dkim-signature")
        results = []
        reasons = []
        for index in range(count):
            logged.clear()
            verifier = dkim.DKIM(message, logger=logger, minkey=1024)
            try:
                ok = verifier.verify(idx=index, dnsfunc=dnsfunc)
            except dkim.DKIMException as error:
                logged.append(str(error).replace("\n", " "))
                ok = False
            results.append("pass" if ok else "fail")
            if not ok:
                reasons.append("signature %d: %s" % (index, "; ".join(logged) or "bad signature"))
        line = file_name[:-4] + " " + (" ".join(results) if results else "none")
        if reasons:
            line += "\t" + " | ".join(reasons)
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
