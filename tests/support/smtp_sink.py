#!/usr/bin/python3
"""A real SMTP server for Hark's tests: aiosmtpd's SMTP protocol on an ephemeral loopback port.

Usage: smtp_sink.py MAILDIR [PORT]. With SINK_TLS=CERT:KEY it requires STARTTLS, and with
SINK_AUTH=USER:PASSWORD it requires that login (over TLS). Prints "PORT <n>" once listening; writes each accepted message
to MAILDIR/<n>.eml (atomically: written under a temporary name, then renamed) and answers
250 only after the file is on disk. Exits when stdin closes or on SIGTERM.
"""
import asyncio
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def store(name, content):
    tmp = name + ".tmp"
    with open(tmp, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, name)


class Maildir:
    def __init__(self, path):
        self.path = path
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        # A test can slow the relay down: MAILDIR/.delay holds seconds to wait per message.
        try:
            with open(os.path.join(self.path, ".delay")) as f:
                await asyncio.sleep(float(f.read().strip() or 0))
        except FileNotFoundError:
            pass
        self.count += 1
        name = os.path.join(self.path, f"{self.count:05d}.eml")
        # On disk before the 250, as a real relay's queue file is; in a thread, so sessions
        # are stored side by side (as an MTA's processes do) rather than one fsync at a time.
        await asyncio.to_thread(store, name, envelope.original_content or envelope.content)
        return "250 OK stored"


async def main():
    handler = Maildir(sys.argv[1])
    # A restarted sink continues the numbering of the files already there.
    handler.count = len([f for f in os.listdir(sys.argv[1]) if f.endswith(".eml")])
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    loop = asyncio.get_running_loop()
    options = {}
    tls = os.environ.get("SINK_TLS")
    if tls:
        cert, key = tls.split(":", 1)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options.update(tls_context=context, require_starttls=True)
    auth = os.environ.get("SINK_AUTH")
    if auth:
        user, password = auth.encode().split(b":", 1)

        def check(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (user, password)
            return AuthResult(success=ok, handled=False)

        options.update(authenticator=check, auth_required=True, auth_require_tls=bool(tls))
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", **options), "127.0.0.1", port, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    # Stop when the test (our parent) closes our stdin, so no sink outlives its test.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    server.close()


asyncio.run(main())
