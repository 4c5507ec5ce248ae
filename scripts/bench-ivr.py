#!/usr/bin/env python3
"""IVR load benchmark (issue 3): sipp against a release `hark serve --demo`, on loopback.

1. Call set-up time at 100 calls/s: INVITE to 200 OK, timed from a tshark capture, for
   2,000 calls that are answered, hear the welcome, and hang up after a second. Reference,
   same run: the same scenario against sipp's own UAS (`sipp -sn uas`).
2. Concurrent recording calls: each caller (101) dials `*102`, keys the PIN as RFC 4733
   events, and streams a 440 Hz PCMA tone (sipp `rtp_stream`) for the whole call, so from the
   beep on the IVR records it and publishes live fragments; every call of a level stays up
   until the last has started, then HOLD s more, and hangs up,
   which sends the message. Levels of N concurrent calls are tried in turn; for each: failed
   calls (sipp), RTP loss (the IVR's own `hark_ivr_rtp_packets_total{kind="lost"|"in"}`),
   Hark's CPU (utime+stime over the hold window) and resident memory per call (RSS with all
   N recording minus RSS before). Reference, same run: sipp's UAS with `-rtp_echo` taking the
   same number of calls (bare SIP plus echoing the RTP back).

Usage: scripts/bench-ivr.py [N ...]   (default levels: 250 500 1000 2000)
Needs: sipp (sip-tester), tshark, a release build (`cargo build --release --bin hark`).
"""

import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARK = os.path.join(ROOT, "target", "release", "hark")
DTMF = "/usr/share/sip-tester/dtmf_2833_{}.pcap"
HOLD = 25  # seconds each recording call stays up after the last call of its level started
RATE = 25  # new recording calls per second (each logs in: one argon2id PIN check)
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port(kind=socket.SOCK_DGRAM, even=False):
    while True:
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if not even or p % 2 == 0:
            return p


def alaw(sample):
    """G.711 A-law encode one 16-bit sample."""
    sign = 0x80 if sample >= 0 else 0
    if sample < 0:
        sample = -sample - 1
    sample = min(sample, 32635)
    if sample >= 256:
        exp = int(math.log2(sample >> 8)) + 1 if sample >> 8 else 0
        exp = min(exp, 7)
        mant = (sample >> (exp + 3)) & 0x0F
        code = (exp << 4) | mant
    else:
        code = sample >> 4
    return (code | sign) ^ 0x55


def tone_file(path, seconds=30, freq=440.0):
    with open(path, "wb") as f:
        f.write(bytes(alaw(int(12000 * math.sin(2 * math.pi * freq * i / 8000)))
                      for i in range(int(seconds * 8000))))


SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sipp", "recording-call.xml")


def call_scenario(to, body, fields=None):
    """The call of scripts/sipp/recording-call.xml (the one the tests make) from 101 to `to`,
    with `body` in place of what it does between the ACK and the BYE."""
    with open(SCENARIO) as f:
        xml = f.read().format(**{"from": "101", "to": to, **(fields or {"tone": "", "hold_ms": 0})})
    start = xml.index("]]></send>\n", xml.index("ACK sip:")) + len("]]></send>\n")
    end = xml.index('  <send retrans="500"><![CDATA[\nBYE')
    return xml[:start] + body + xml[end:]


def setup_scenario(to):
    return call_scenario(to, '  <pause milliseconds="1000"/>\n')


def recording_scenario(to, tone, hold):
    """The recording call the tests make (scripts/sipp/recording-call.xml), from 101."""
    with open(SCENARIO) as f:
        return f.read().format(**{"from": "101", "to": to, "tone": tone, "hold_ms": hold * 1000})


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    rss = int(fields[21]) * PAGE
    return cpu, rss


def metrics(port):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in body.splitlines():
        m = re.match(r'hark_ivr_rtp_packets_total\{kind="(\w+)"\} (\d+)', line)
        if m:
            out[m.group(1)] = int(m.group(2))
        m = re.match(r"hark_ivr_active_calls (\d+)", line)
        if m:
            out["active"] = int(m.group(1))
    return out


def sipp(args, cwd, timeout):
    cmd = ["sipp"] + args + ["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin", "-trace_stat",
                             "-fd", "1", "-trace_err"]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stat_field(cwd, name, field):
    """The last value of `field` in sipp's -trace_stat CSV for scenario `name`."""
    files = [f for f in os.listdir(cwd) if re.match(rf"{name}_\d+_\.csv$", f)]
    rows = open(os.path.join(cwd, sorted(files)[-1])).read().strip().splitlines()
    head = rows[0].split(";")
    return int(rows[-1].split(";")[head.index(field)])


def pct(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def setup_latency(target, cwd, name, calls=2000, rate=100):
    """INVITE → 200 OK per call, from a tshark capture on lo (µs timestamps; sipp's own
    response times have 1 ms resolution)."""
    xml = os.path.join(cwd, f"{name}.xml")
    open(xml, "w").write(setup_scenario("hark"))
    port = target.rsplit(":", 1)[1]
    pcap = os.path.join(cwd, f"{name}.pcap")
    cap = subprocess.Popen(["tshark", "-i", "lo", "-f", f"udp port {port}", "-w", pcap, "-q"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    p = sipp([target, "-sf", xml, "-r", str(rate), "-m", str(calls), "-l", "400",
              "-mp", str(free_port(even=True)), "-timeout", "120s"], cwd, 130)
    p.communicate(timeout=150)
    time.sleep(1)
    cap.send_signal(signal.SIGINT)
    cap.wait(timeout=30)
    failed = stat_field(cwd, name, "FailedCall(C)")
    out = subprocess.run(["tshark", "-r", pcap, "-Y", "sip.CSeq.method == \"INVITE\"", "-T", "fields",
                          "-e", "frame.time_epoch", "-e", "sip.Call-ID", "-e", "sip.Method",
                          "-e", "sip.Status-Code"], capture_output=True, text=True).stdout
    invites, answers = {}, {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 4:
            continue
        t, cid, method, status = float(parts[0]), parts[1], parts[2], parts[3]
        if method == "INVITE":
            invites.setdefault(cid, t)
        elif status == "200":
            answers.setdefault(cid, t)
    r = sorted((answers[c] - invites[c]) * 1000 for c in answers if c in invites)
    return failed, r


def main():
    levels = [int(a) for a in sys.argv[1:]] or [250, 500, 1000, 2000]
    if not os.path.exists(HARK):
        sys.exit("build first: cargo build --release --bin hark")
    work = tempfile.mkdtemp(prefix="hark-bench-ivr-")
    tone = os.path.join(work, "tone.alaw")
    tone_file(tone)
    sip_port, metrics_port, portal_port = free_port(), free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    env = dict(os.environ,
               HARK_DATA_DIR=os.path.join(work, "data"),
               HARK_IVR__SIP_LISTEN=f"127.0.0.1:{sip_port}",
               HARK_OPS__LISTEN=f"127.0.0.1:{metrics_port}",
               HARK_PORTAL__LISTEN=f"127.0.0.1:{portal_port}",
               HARK_IVR__MAX_CALLS="20000",
               HARK_IVR__RTP_PORT_MIN="20000",
               HARK_IVR__RTP_PORT_MAX="29999",
               HARK_IVR__MAX_RECORD_SECS="120",
               HARK_IVR__SILENCE_SECS="30",
               # Every benchmark call logs in as 101: a digit lost under load must not lock
               # the PIN for all the calls after it (the lockout itself is tested elsewhere).
               HARK_IVR__PIN_ATTEMPTS="1000000",
               # sipp places every call from 127.0.0.1: exempt from the per-source limits
               # (calls at once, INVITEs a second), as a proxy in front of the IVR would be.
               HARK_IVR__TRUSTED_SOURCES='["127.0.0.1"]',
               RUST_LOG="warn")
    log = open(os.path.join(work, "hark.log"), "w")
    hark = subprocess.Popen([HARK, "serve", "--demo"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                metrics(metrics_port)
                break
            except Exception:
                time.sleep(0.1)
        print(subprocess.run(["sh", "-c", "lscpu | grep -E 'Model name|^CPU\\(s\\)'; free -g | head -2"],
                             capture_output=True, text=True).stdout)

        # 1. Set-up time at 100 calls/s.
        ref_port = free_port()
        uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(ref_port), "-nostdin",
                                "-mp", str(free_port(even=True))], cwd=work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        ref_failed, ref = setup_latency(f"127.0.0.1:{ref_port}", work, "setupref")
        uas.send_signal(signal.SIGINT)
        uas.wait(timeout=10)
        failed, hark_rtt = setup_latency(f"127.0.0.1:{sip_port}", work, "setup")
        print("## set-up time, 2,000 calls at 100 calls/s (INVITE → 200 OK)")
        print(f"hark:      p50 {pct(hark_rtt, 50):.3f} ms  p99 {pct(hark_rtt, 99):.3f} ms  "
              f"max {hark_rtt[-1]:.3f} ms  failed {failed}, {len(hark_rtt)} calls measured")
        print(f"sipp UAS:  p50 {pct(ref, 50):.3f} ms  p99 {pct(ref, 99):.3f} ms  "
              f"max {ref[-1]:.3f} ms  failed {ref_failed}, {len(ref)} calls measured")
        time.sleep(3)

        # 2. Concurrent recording calls.
        print(f"\n## concurrent recording calls ({RATE} new calls/s, each streams PCMA and stays up "
              f"until all of its level are recording, then {HOLD} s more)")
        print("| calls | failed | RTP in | lost | loss | Hark CPU (cores) | CPU per call | RSS per call |"
              " ref: sipp UAS -rtp_echo CPU |")
        # A first, unreported level grows the allocator's arenas and fills the caches, so
        # memory per call below is what more calls cost, not start-up.
        recording_level(100, work, sip_port, metrics_port, hark.pid, tone, reference=False)
        time.sleep(5)
        for n in levels:
            row = recording_level(n, work, sip_port, metrics_port, hark.pid, tone)
            print(row, flush=True)
            time.sleep(5)
    finally:
        hark.send_signal(signal.SIGTERM)
        try:
            hark.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hark.kill()
        print(f"\n(work files in {work})")


def recording_level(n, work, sip_port, metrics_port, pid, tone, reference=True):
    rate = RATE
    name = f"rec{n}" if reference else "warmup"
    xml = os.path.join(work, f"{name}.xml")
    # Every call stays up until the last one has started, plus HOLD: all n record at once.
    hold = n // rate + HOLD
    open(xml, "w").write(recording_scenario("*102", tone, hold))
    before = metrics(metrics_port)
    _, rss0 = proc_stat(pid)
    p = sipp([f"127.0.0.1:{sip_port}", "-sf", xml, "-r", str(rate), "-m", str(n), "-l", str(n),
              "-mp", str(free_port(even=True)), "-timeout", str(n // rate + hold + 60) + "s"],
             work, n // rate + hold + 90)
    # Wait until all n are up and recording (the last call starts at n/rate s, records ~3 s
    # later), then measure over a window inside everyone's hold.
    ramp = n / rate + 5
    time.sleep(ramp)
    active = metrics(metrics_port).get("active", 0)
    cpu0, rss1 = proc_stat(pid)
    window = 10
    time.sleep(window)
    cpu1, rss2 = proc_stat(pid)
    _, err = p.communicate(timeout=n // rate + hold + 120)
    failed = stat_field(work, name, "FailedCall(C)")
    time.sleep(3)
    after = metrics(metrics_port)
    rin = after.get("in", 0) - before.get("in", 0)
    lost = after.get("lost", 0) - before.get("lost", 0)
    cores = (cpu1 - cpu0) / window
    rss = (max(rss1, rss2) - rss0) / max(active, 1)
    ref = echo_reference(n, work, tone) if reference else "-"
    return (f"| {n} (active {active}) | {failed} | {rin} | {lost} | {100 * lost / max(rin, 1):.3f} % | "
            f"{cores:.2f} | {1000 * cores / max(active, 1):.2f} m-core | {rss / 1024:.0f} KiB | {ref} |")


def echo_reference(n, work, tone):
    """sipp's UAS echoing RTP for the same calls: its CPU over the same kind of window."""
    port = free_port()
    uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(port),
                            "-rtp_echo", "-nostdin", "-mp", str(free_port(even=True))], cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    name = f"ref{n}"
    xml = os.path.join(work, f"{name}.xml")
    body = f'  <nop><action><exec rtp_stream="{tone},-1,8"/></action></nop>\n'
    body += f'  <pause milliseconds="{(n // RATE + HOLD) * 1000}"/>\n'
    body += '  <nop><action><exec rtp_stream="pause"/></action></nop>\n'
    open(xml, "w").write(call_scenario("service", body))
    p = sipp([f"127.0.0.1:{port}", "-sf", xml, "-r", str(RATE), "-m", str(n), "-l", str(n),
              "-mp", str(free_port(even=True)), "-timeout", str(2 * (n // RATE) + HOLD + 60) + "s"],
             work, 2 * (n // RATE) + HOLD + 90)
    time.sleep(n / RATE + 2)
    cpu0, _ = proc_stat(uas.pid)
    window = 10
    time.sleep(window)
    cpu1, _ = proc_stat(uas.pid)
    p.communicate(timeout=2 * (n // RATE) + HOLD + 120)
    uas.send_signal(signal.SIGINT)
    try:
        uas.wait(timeout=10)
    except subprocess.TimeoutExpired:
        uas.kill()
    return f"{(cpu1 - cpu0) / window:.2f} cores"


if __name__ == "__main__":
    main()
