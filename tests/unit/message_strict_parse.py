#!/usr/bin/env python3
"""Reads composed messages back with Python's email package in strict mode.

Run by message_test (MessageStrictParse): argv[1] is a JSON manifest of messages, each with the
file the test wrote and what a reader must get back from it: the subject, the From display name
and address, some header values, and each text part's media type, transfer encoding and text.
Checks, per message: CRLF line endings only, no line over 998 octets (RFC 5322 2.1.1), only
ASCII unless a part is 8bit, no defect from the parser (email.policy.strict raises on message
defects; header defects are collected on each header and checked here), and that every value
decodes to the original. Prints each problem and exits 1; prints a summary and exits 0.
"""

import email.parser
import email.policy
import json
import re
import sys


def normalized_text(text):
    """Line breaks as LF, and a final one: what every transfer encoding must give back."""
    text = re.sub(r"\r\n|\r|\n", "\n", text)
    if text and not text.endswith("\n"):
        text += "\n"
    return text


def check_raw(data, eight_bit, problems):
    if not data.endswith(b"\r\n"):
        problems.append("the message does not end with CRLF")
    for number, line in enumerate(data.split(b"\r\n")[:-1], start=1):
        if b"\r" in line or b"\n" in line:
            problems.append(f"line {number}: bare CR or LF")
        if len(line) > 998:
            problems.append(f"line {number}: {len(line)} octets, over 998")
    if not eight_bit and any(byte >= 0x80 for byte in data):
        problems.append("a byte over 127 in a message without an 8bit part")


def check_headers(message, case, problems):
    for name, value in message.items():
        if value.defects:
            problems.append(f"header {name}: defects {value.defects!r}")
    subject = str(message["Subject"])
    if subject != case["subject"]:
        problems.append(f"Subject {subject!r} != {case['subject']!r}")
    addresses = message["From"].addresses
    if len(addresses) != 1:
        problems.append(f"From has {len(addresses)} addresses")
    else:
        if addresses[0].display_name != case["from_display_name"]:
            problems.append(
                f"From display name {addresses[0].display_name!r} != "
                f"{case['from_display_name']!r}")
        if addresses[0].addr_spec != case["from_address"]:
            problems.append(f"From address {addresses[0].addr_spec!r} != {case['from_address']!r}")
    if message["Date"].datetime is None:
        problems.append("Date does not parse")
    for name, expected in case.get("headers", {}).items():
        values = message.get_all(name)
        if expected is None:
            if values:
                problems.append(f"{name} should be absent, is {values!r}")
            continue
        if values is None or len(values) != 1:
            problems.append(f"{name}: expected once, found {values!r}")
        elif str(values[0]) != expected:
            problems.append(f"{name} {str(values[0])!r} != {expected!r}")


def check_parts(message, case, problems):
    expected_parts = case["parts"]
    if message.is_multipart() != (len(expected_parts) > 1):
        problems.append(f"multipart is {message.is_multipart()}, parts {len(expected_parts)}")
    if message.is_multipart():
        if message.get_content_type() != "multipart/alternative":
            problems.append(f"top-level type {message.get_content_type()}")
        outer = message.get("Content-Transfer-Encoding", "7bit")
        if outer != case.get("multipart_encoding", "7bit"):
            problems.append(f"multipart Content-Transfer-Encoding {outer!r}")
    leaves = [part for part in message.walk() if not part.is_multipart()]
    if len(leaves) != len(expected_parts):
        problems.append(f"{len(leaves)} parts, expected {len(expected_parts)}")
        return
    for index, (part, expected) in enumerate(zip(leaves, expected_parts)):
        where = f"part {index} ({expected['content_type']})"
        if part.defects:
            problems.append(f"{where}: defects {part.defects!r}")
        if part.get_content_type() != expected["content_type"]:
            problems.append(f"{where}: type {part.get_content_type()}")
        if part.get_content_charset() != "utf-8":
            problems.append(f"{where}: charset {part.get_content_charset()}")
        encoding = part["Content-Transfer-Encoding"]
        if encoding != expected["encoding"]:
            problems.append(f"{where}: encoding {encoding!r} != {expected['encoding']!r}")
        if encoding == "base64":
            payload_lines = part.get_payload(decode=False).split("\r\n")
            if any(len(line) > 76 for line in payload_lines):
                problems.append(f"{where}: a base64 line over 76 characters")
        content = part.get_content()
        if normalized_text(content) != normalized_text(expected["content"]):
            problems.append(f"{where}: content {content[:200]!r} != "
                            f"{expected['content'][:200]!r}")


def check_message(case):
    problems = []
    with open(case["file"], "rb") as file:
        data = file.read()
    eight_bit = any(part["encoding"] == "8bit" for part in case["parts"])
    check_raw(data, eight_bit, problems)
    try:
        message = email.parser.BytesParser(policy=email.policy.strict).parsebytes(data)
    except Exception as error:  # strict: a message defect raises
        return problems + [f"parse: {type(error).__name__}: {error}"]
    if message.defects:
        problems.append(f"message defects {message.defects!r}")
    try:
        check_headers(message, case, problems)
        check_parts(message, case, problems)
    except Exception as error:
        problems.append(f"reading: {type(error).__name__}: {error}")
    return problems


def main():
    with open(sys.argv[1], encoding="utf-8") as file:
        manifest = json.load(file)
    failed = 0
    for case in manifest["messages"]:
        problems = check_message(case)
        for problem in problems:
            print(f"{case['name']}: {problem}")
        failed += 1 if problems else 0
    print(f"{len(manifest['messages']) - failed} of {len(manifest['messages'])} messages "
          f"parse strictly and decode to their originals")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
