"""A real SMTP server for orderly's e-mail tests (aiosmtpd).

    python smtp_server.py MAILDIR

Listens on 127.0.0.1 on a free port, prints `port N` once it accepts connections, and
writes every message it accepts into the Maildir MAILDIR (one file per message in
MAILDIR/new). Recipients whose domain is `refused.test` are refused for good (550), as a
mail server refuses a mailbox that does not exist. It runs until killed.
"""

import mailbox
import socket
import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, path):
        self.maildir = mailbox.Maildir(path, create=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@refused.test"):
            return "550 5.1.1 <%s>: Recipient address rejected: no such mailbox" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = mailbox.MaildirMessage(envelope.original_content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.maildir.add(message)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    path = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else free_port()
    controller = Controller(Handler(path), hostname="127.0.0.1", port=port)
    controller.start()
    print("port %d" % port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
