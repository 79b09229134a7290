"""A real SMTP server for the tests: aiosmtpd, storing accepted messages in a Maildir.

Usage: python3 tests/smtp_relay.py PORT MAILDIR CONTROL

CONTROL is a file of reply codes, one per line (e.g. 451 or 550): each message's DATA takes the
first line and is answered with it instead of being stored; when the file is empty, messages are
stored and answered 250. Prints "ready" once listening.
"""

import mailbox
import pathlib
import sys
import time

from aiosmtpd.controller import Controller

REPLIES = {
    "421": "421 4.3.2 Service not available, closing channel",
    "451": "451 4.3.0 Temporary failure, try again later",
    "452": "452 4.2.2 Mailbox full",
    "550": "550 5.1.1 Mailbox unavailable",
    "554": "554 5.7.1 Rejected",
}


class Handler:
    def __init__(self, maildir, control):
        self.maildir = mailbox.Maildir(maildir, create=True)
        self.control = pathlib.Path(control)

    async def handle_DATA(self, server, session, envelope):
        lines = self.control.read_text().splitlines() if self.control.exists() else []
        lines = [line.strip() for line in lines if line.strip()]
        if lines:
            self.control.write_text("".join(f"{line}\n" for line in lines[1:]))
            return REPLIES.get(lines[0], f"{lines[0]} scripted reply")
        self.maildir.add(envelope.original_content or envelope.content)
        return "250 2.0.0 OK stored"


def main():
    port, maildir, control = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    controller = Controller(Handler(maildir, control), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
