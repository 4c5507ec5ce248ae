#!/usr/bin/env python3
"""Registrar benchmark (issue 21): REGISTER with a digest challenge (two round trips) under
sipp load, against a release `hark serve --demo` and, in the same run on the same machine,
Kamailio's own registrar (`registrar` + `usrloc` in memory, `auth` with `qop=auth`).

Each sipp call is one registration: REGISTER → 401 → REGISTER with credentials → 200, for
USERS phones in turn (sipp injection file). For each offered rate, for SECONDS seconds:
registrations that succeeded per second, failures, and the time from the first REGISTER to
the 200 (from a tshark capture on loopback: sipp's own measure has millisecond steps).

Hark gets USERS phone devices with SIP credentials (written into its SQLite database), MD5
offered (its default), and 127.0.0.1 as a trusted source (as a proxy in front would be;
otherwise the per-source request limit, 50/s, is what gets measured). Kamailio is asked to
check nonce counts too (`nonce_count`), as Hark does.

Usage: scripts/bench-register.py [RATE ...]   (default rates: 250 500 1000 2000)
Needs: sipp (sip-tester), tshark, kamailio, a release build (`cargo build --release --bin hark`).
"""

import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARK = os.path.join(ROOT, "target", "release", "hark")
USERS = 1000
SECONDS = 10
PASSWORD = "bench-secret"
REALM = "hark"

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register with a digest challenge">
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:[field0]@[remote_ip]>;tag=[call_number]
To: <sip:[field0]@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Expires: 3600
Content-Length: 0

]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:[field0]@[remote_ip]>;tag=[call_number]
To: <sip:[field0]@[remote_ip]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port]>
[field1]
Max-Forwards: 70
Expires: 3600
Content-Length: 0

]]></send>
  <recv response="200" rtd="true"/>
</scenario>
"""

KAMAILIO_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("auth", "qop", "auth")
modparam("auth", "nonce_count", 1)
modparam("auth", "nonce_expire", 300)
request_route {{
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("{realm}", "{password}", "0")) {{
            www_challenge("{realm}", "0");
            exit;
        }}
        consume_credentials();
        save("location");
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""


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


def kamailio_modules():
    for d in ["/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/aarch64-linux-gnu/kamailio/modules",
              "/usr/lib/kamailio/modules"]:
        if os.path.isdir(d):
            return d
    sys.exit("Kamailio's modules not found (apt-get install kamailio)")


def wait_options(port, what):
    msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-probe\r\n"
           f"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: probe-{time.time()}\r\n"
           "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.3)
    msg = msg.replace(b"127.0.0.1:9", f"127.0.0.1:{s.getsockname()[1]}".encode())
    for _ in range(100):
        s.sendto(msg, ("127.0.0.1", port))
        try:
            s.recvfrom(4096)
            return
        except socket.timeout:
            time.sleep(0.2)
    sys.exit(f"{what} never answered OPTIONS")


def provision(db):
    """USERS phone devices for 102, usernames p0001…, with the benchmark password's HA1s."""
    con = sqlite3.connect(db, timeout=30)
    (user,) = con.execute("SELECT id FROM users WHERE extension = '102'").fetchone()
    rows = []
    for i in range(1, USERS + 1):
        name = f"p{i:04d}"
        md5 = hashlib.md5(f"{name}:{REALM}:{PASSWORD}".encode()).hexdigest()
        sha = hashlib.sha256(f"{name}:{REALM}:{PASSWORD}".encode()).hexdigest()
        rows.append((f"bench-{i:04d}", user, "sip", f"sip:{name}@{REALM}", "2026-01-01 00:00:00",
                     "2026-01-01 00:00:00", name, REALM, md5, sha))
    con.executemany(
        "INSERT INTO devices (id, user_id, kind, address, verified_at, created_at, sip_username, "
        "sip_realm, sip_ha1_md5, sip_ha1_sha256) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()


def run_level(port, rate, work, name):
    users = os.path.join(work, "users.csv")
    xml = os.path.join(work, "register.xml")
    pcap = os.path.join(work, f"{name}-{rate}.pcap")
    total = rate * SECONDS
    cap = subprocess.Popen(["tshark", "-q", "-i", "lo", "-f", f"udp port {port}", "-w", pcap],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    subprocess.run(
        ["sipp", f"127.0.0.1:{port}", "-sf", xml, "-inf", users, "-r", str(rate), "-m", str(total),
         "-l", str(rate * 2), "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin",
         "-trace_stat", "-fd", "1", "-timeout", f"{SECONDS + 30}s", "-timeout_error",
         "-max_socket", "10000"],
        cwd=work, capture_output=True, text=True, timeout=SECONDS + 90)
    time.sleep(1)
    cap.send_signal(signal.SIGINT)
    cap.wait(timeout=60)
    stats = None
    for f in os.listdir(work):
        if f.startswith("register_") and f.endswith(".csv"):
            path = os.path.join(work, f)
            stats = open(path).read().splitlines()
            os.rename(path, os.path.join(work, f"{name}-{rate}-stat.csv"))
    ok = failed = None
    if stats and len(stats) >= 2:
        row = dict(zip(stats[0].split(";"), stats[-1].split(";")))
        ok = int(row.get("SuccessfulCall(C)", 0))
        failed = int(row.get("FailedCall(C)", 0))
    out = subprocess.run(["tshark", "-r", pcap, "-Y", "sip.CSeq.method == \"REGISTER\"", "-T", "fields",
                          "-e", "frame.time_epoch", "-e", "sip.Call-ID", "-e", "sip.CSeq.seq",
                          "-e", "sip.Status-Code"], capture_output=True, text=True).stdout
    first, done = {}, {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 4:
            continue
        t, cid, seq, status = float(parts[0]), parts[1], parts[2], parts[3]
        if seq == "1" and not status:
            first.setdefault(cid, t)
        elif status == "200":
            done.setdefault(cid, t)
    times = sorted(done.values())
    span = times[-1] - min(first[c] for c in done if c in first) if len(times) > 1 else 0
    rtts = sorted((done[c] - first[c]) * 1000 for c in done if c in first)
    os.remove(pcap)
    return ok, failed, span, rtts


def row(name, rate, result):
    ok, failed, elapsed, rtts = result
    per_sec = ok / elapsed if ok and elapsed else 0
    return (f"| {name} | {rate}/s | {per_sec:,.0f}/s | {failed} | {pct(rtts, 50):.2f} ms | "
            f"{pct(rtts, 99):.2f} ms | {len(rtts)} |")


def main():
    rates = [int(a) for a in sys.argv[1:]] or [250, 500, 1000, 2000]
    if not os.path.exists(HARK):
        sys.exit("build first: cargo build --release --bin hark")
    work = tempfile.mkdtemp(prefix="hark-bench-register-")
    open(os.path.join(work, "register.xml"), "w").write(SCENARIO)
    with open(os.path.join(work, "users.csv"), "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(1, USERS + 1):
            # The authentication keyword as a field: sipp 3.6 cannot put fields inside it.
            f.write(f"p{i:04d};[authentication username=p{i:04d} password={PASSWORD}]\n")
    print(subprocess.run(["sh", "-c", "lscpu | grep -E 'Model name|^CPU.s.:'; free -g | head -2; "
                          "kamailio -v | head -1; sipp -v | grep 'SIPp v'"],
                         capture_output=True, text=True).stdout)

    sip_port, portal_port = free_port(), free_port(socket.SOCK_STREAM)
    data = os.path.join(work, "data")
    env = dict(os.environ, HARK_DATA_DIR=data, HARK_IVR__SIP_LISTEN=f"127.0.0.1:{sip_port}",
               HARK_PORTAL__LISTEN=f"127.0.0.1:{portal_port}",
               HARK_IVR__TRUSTED_SOURCES='["127.0.0.1"]', RUST_LOG="warn")
    log = open(os.path.join(work, "hark.log"), "w")
    hark = subprocess.Popen([HARK, "serve", "--demo"], env=env, stdout=log, stderr=log)
    kport = free_port()
    kdir = os.path.join(work, "kamailio")
    os.makedirs(kdir)
    cfg = os.path.join(kdir, "kamailio.cfg")
    open(cfg, "w").write(KAMAILIO_CFG.format(port=kport, modules=kamailio_modules(), realm=REALM,
                                             password=PASSWORD))
    klog = open(os.path.join(kdir, "kamailio.log"), "w")
    kam = subprocess.Popen(["kamailio", "-f", cfg, "-DD", "-E", "-m", "256", "-M", "16", "-Y", kdir,
                            "-w", kdir], stdout=klog, stderr=klog, start_new_session=True)
    try:
        wait_options(sip_port, "hark")
        db = os.path.join(data, "hark.db")
        if not os.path.exists(db):
            db = next(os.path.join(data, f) for f in os.listdir(data) if f.endswith(".db"))
        provision(db)
        wait_options(kport, "kamailio")
        print(f"REGISTER with a digest challenge, {USERS} phones, {SECONDS} s per rate\n")
        print("| registrar | offered | registered | failed | p50 | p99 | n |")
        print("|---|---|---|---|---|---|---|")
        for rate in rates:
            print(row("Kamailio (registrar, usrloc in memory, auth)", rate,
                      run_level(kport, rate, work, "kamailio")), flush=True)
            time.sleep(2)
            print(row("Hark (SQLite)", rate, run_level(sip_port, rate, work, "hark")), flush=True)
            time.sleep(2)
    finally:
        hark.send_signal(signal.SIGTERM)
        try:
            hark.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hark.kill()
        os.killpg(kam.pid, signal.SIGTERM)
        try:
            kam.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(kam.pid, signal.SIGKILL)
        print(f"\n(work files in {work})")


if __name__ == "__main__":
    main()
