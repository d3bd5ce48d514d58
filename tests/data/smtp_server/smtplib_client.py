# A real SMTP client for tests/unit/smtp_server_test.cc: Python's smtplib sends what an MTA
# returning bounces would, to the server on 127.0.0.1:PORT, and prints one line per outcome.
# Usage: python3 smtplib_client.py PORT
import json
import smtplib
import sys


def refusals(refused):
    return json.dumps({address: [code, text.decode()] for address, (code, text) in
                       sorted(refused.items())})


DSN = (
    "From: MAILER-DAEMON@mx.example.net\n"
    "To: b-1@bounces.example.com\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n'
    "\n"
    "--B\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mx.example.net\n"
    "\n"
    "Final-Recipient: rfc822; gone@example.org\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "\n"
    "--B--\n"
)

NOTE = "Subject: note\n\n.a line that starts with a dot\nend\n"

with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="mx.example.net",
                  timeout=10) as smtp:
    # 1. A bounce, from the null sender (RFC 5321 4.5.5).
    print("bounce", refusals(smtp.sendmail("", ["b-1@bounces.example.com"], DSN)))
    # 2. One recipient of the domain, one not: the message goes to the first only.
    print("mixed", refusals(smtp.sendmail("sender@example.net",
                                          ["b-2@bounces.example.com", "someone@example.org"],
                                          NOTE)))
    # 3. No recipient accepted.
    try:
        smtp.sendmail("sender@example.net", ["x@example.org"], NOTE)
        print("refused none")
    except smtplib.SMTPRecipientsRefused as error:
        print("refused", refusals(error.recipients))
    # 4. Larger than the SIZE the server announced: smtplib declares it in MAIL.
    try:
        smtp.sendmail("", ["b-3@bounces.example.com"], "x" * 5000)
        print("too_big none")
    except smtplib.SMTPSenderRefused as error:
        print("too_big", error.smtp_code, error.smtp_error.decode())
    # 5. The store fails: a temporary error after the final dot.
    try:
        smtp.sendmail("", ["storefail@bounces.example.com"], NOTE)
        print("store none")
    except smtplib.SMTPDataError as error:
        print("store", error.smtp_code, error.smtp_error.decode())
print("done")
