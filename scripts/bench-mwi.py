#!/usr/bin/env python3
"""Message-waiting fan-out benchmark (issue 21): how long until every one of 1,000 registered
phones has been told (a `message-summary` NOTIFY saying 1 new message) after one message to
a group of those 1,000 people, against a release `hark serve --demo` on SQLite.

Each of PHONES people (extensions 5000…) has a SIP device that wants its lamp without
subscribing (`mwi_unsolicited`) and one registration, written straight into the database (the
registrar itself is measured by bench-register.py), pointing at one UDP socket of this script,
which answers every NOTIFY 200 as a phone does and notes when the first one saying
`Voice-Message: 1/0` arrived. Alice (101) sends a 1 s WAV through the JSON API to group 300
(all of them); the clock starts when the upload is sent.

Reference in the same run: the same for a group of one (group 301, one more person): what one
lamp costs end to end (upload, recording, event through the outbox and the bus, NOTIFY).

Usage: scripts/bench-mwi.py [PHONES]   (default 1000)
Needs: a release build (`cargo build --release --bin hark`).
"""

import asyncio
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARK = os.path.join(ROOT, "target", "release", "hark")
REALM = "hark"


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pct(values, p):
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


class Phone(asyncio.DatagramProtocol):
    """One registered phone: answers NOTIFYs 200 and notes the first that says 1/0."""

    def __init__(self, lit):
        self.lit = lit
        self.at = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        text = data.decode(errors="replace")
        if not text.startswith("NOTIFY "):
            return
        if self.at is None and "Voice-Message: 1/0" in text:
            self.at = time.monotonic()
            self.lit.append(self.at)
        ok = ["SIP/2.0 200 OK"]
        for line in text.split("\r\n"):
            name = line.split(":", 1)[0].strip().lower()
            if name in ("via", "from", "to", "call-id", "cseq"):
                ok.append(line)
        ok.append("Content-Length: 0\r\n\r\n")
        self.transport.sendto("\r\n".join(ok).encode(), addr)


def provision(db, ports, single_port):
    """PHONES people in group 300 and one more in group 301, each with a registered phone."""
    con = sqlite3.connect(db, timeout=30)
    now = "2026-01-01 00:00:00"
    later = "2099-01-01 00:00:00"
    (owner,) = con.execute("SELECT id FROM users WHERE extension = '101'").fetchone()

    def person(ext, port):
        uid, did = str(uuid.uuid4()), str(uuid.uuid4())
        con.execute("INSERT INTO users (id, extension, display_name, created_at) VALUES (?,?,?,?)",
                    (uid, ext, f"Bench {ext}", now))
        con.execute(
            "INSERT INTO devices (id, user_id, kind, address, verified_at, created_at, sip_username, "
            "sip_realm, mwi_unsolicited) VALUES (?,?,?,?,?,?,?,?,1)",
            (did, uid, "sip", f"sip:m{ext}@{REALM}", now, now, f"m{ext}", REALM))
        con.execute(
            "INSERT INTO registrations (device_id, contact, user_id, source, call_id, cseq, node_id, "
            "expires_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (did, f"sip:m{ext}@127.0.0.1:{port}", uid, f"udp:127.0.0.1:{port}", f"bench-{ext}", 1,
             "bench", later, now))
        return uid

    for number, name, members in (("300", "Everyone", [(str(5000 + i), p) for i, p in enumerate(ports)]),
                                  ("301", "One", [("4999", single_port)])):
        gid = str(uuid.uuid4())
        con.execute("INSERT INTO groups (id, number, name, owner_id, created_at) VALUES (?,?,?,?,?)",
                    (gid, number, name, owner, now))
        for ext, port in members:
            con.execute("INSERT INTO group_members (group_id, user_id) VALUES (?,?)",
                        (gid, person(ext, port)))
    con.commit()
    con.close()


def wav_1s():
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 8000)
    return buf.getvalue()


def post(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


async def fan_out(base, token, group, lit, expected, limit=120):
    audio = wav_1s()
    start = time.monotonic()
    await asyncio.to_thread(post, f"{base}/api/v1/messages?to={group}", audio,
                            {"Authorization": f"Bearer {token}", "Content-Type": "audio/wav"})
    while len(lit) < expected and time.monotonic() - start < limit:
        await asyncio.sleep(0.01)
    return sorted((t - start) * 1000 for t in lit)


async def run(phones):
    work = tempfile.mkdtemp(prefix="hark-bench-mwi-")
    print(subprocess.run(["sh", "-c", "lscpu | grep -E 'Model name|^CPU.s.:'; free -g | head -2"],
                         capture_output=True, text=True).stdout)
    loop = asyncio.get_running_loop()
    lit_many, lit_one = [], []
    many = []
    for _ in range(phones):
        t, _p = await loop.create_datagram_endpoint(lambda: Phone(lit_many), local_addr=("127.0.0.1", 0))
        many.append(t)
    one, _ = await loop.create_datagram_endpoint(lambda: Phone(lit_one), local_addr=("127.0.0.1", 0))
    ports = [t.get_extra_info("sockname")[1] for t in many]
    single_port = one.get_extra_info("sockname")[1]

    sip_port, portal_port = free_port(), free_port(socket.SOCK_STREAM)
    data = os.path.join(work, "data")
    env = dict(os.environ, HARK_DATA_DIR=data, HARK_IVR__SIP_LISTEN=f"127.0.0.1:{sip_port}",
               HARK_PORTAL__LISTEN=f"127.0.0.1:{portal_port}", RUST_LOG="warn")
    log = open(os.path.join(work, "hark.log"), "w")
    hark = subprocess.Popen([HARK, "serve", "--demo"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{portal_port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=1)
                break
            except Exception:
                await asyncio.sleep(0.1)
        db = os.path.join(data, "hark.db")
        provision(db, ports, single_port)
        token = json.loads(post(f"{base}/api/v1/login",
                                json.dumps({"extension": "101", "password": "hark-demo"}).encode(),
                                {"Content-Type": "application/json"}))["token"]
        one_ms = await fan_out(base, token, "301", lit_one, 1)
        many_ms = await fan_out(base, token, "300", lit_many, phones)
        print(f"Message-waiting NOTIFYs after one message to a group, {phones} registered phones, "
              "Hark on SQLite\n")
        print("| group | phones told | first | p50 | p99 | last |")
        print("|---|---|---|---|---|---|")
        for name, ms, n in (("1 person (reference)", one_ms, 1), (f"{phones} people", many_ms, phones)):
            if ms:
                print(f"| {name} | {len(ms)}/{n} | {ms[0]:,.0f} ms | {pct(ms, 50):,.0f} ms | "
                      f"{pct(ms, 99):,.0f} ms | {ms[-1]:,.0f} ms |")
            else:
                print(f"| {name} | 0/{n} | – | – | – | – |")
    finally:
        hark.send_signal(signal.SIGTERM)
        try:
            hark.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hark.kill()
        print(f"\n(work files in {work})")


def main():
    phones = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    if not os.path.exists(HARK):
        sys.exit("build first: cargo build --release --bin hark")
    asyncio.run(run(phones))


if __name__ == "__main__":
    main()
