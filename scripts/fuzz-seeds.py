#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (fuzz/corpus/<target>/), so a fuzzing run starts
from inputs that reach deep into each parser: real SIP requests and the RFC 4475 torture
messages (valid but strange, and invalid), SDP offers, RTP and RFC 4733 packets, INFO bodies,
DTMF tones, audio files of every format Hark takes, WAV headers, signed links and plans.

The files are committed; run this again only to regenerate them (it overwrites its own files
and leaves what fuzzing added). Usage: scripts/fuzz-seeds.py
"""

import base64
import hashlib
import hmac
import math
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def crlf(text):
    return text.strip("\n").replace("\n", "\r\n") + "\r\n"


SDP = """v=0
o=alice 2890844526 2890844526 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 49170 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
"""


def sip(start, headers, body=""):
    body = crlf(body) if body else ""
    lines = [start] + headers + [f"Content-Length: {len(body.encode())}"]
    return "\r\n".join(lines) + "\r\n\r\n" + body


BASE = [
    "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK776asdhds;rport",
    "Max-Forwards: 70",
    "To: <sip:102@127.0.0.1>",
    "From: \"Alice\" <sip:101@127.0.0.1>;tag=1928301774",
    "Call-ID: a84b4c76e66710@127.0.0.1",
    "CSeq: 314159 INVITE",
    "Contact: <sip:101@127.0.0.1:5062>",
]


def sip_seeds():
    put("sip_message", "invite", sip("INVITE sip:*102@127.0.0.1 SIP/2.0",
                                     BASE + ["Content-Type: application/sdp"], SDP))
    put("sip_message", "invite-pai", sip("INVITE sip:hark@127.0.0.1 SIP/2.0", BASE + [
        "P-Asserted-Identity: \"Bob\" <sip:102@pbx.example.org>",
        "Content-Type: application/sdp"], SDP))
    put("sip_message", "options", sip("OPTIONS sip:127.0.0.1 SIP/2.0",
                                      [h.replace("INVITE", "OPTIONS") for h in BASE]))
    put("sip_message", "bye", sip("BYE sip:101@127.0.0.1:5062 SIP/2.0",
                                  [h.replace("314159 INVITE", "314160 BYE") for h in BASE]))
    put("sip_message", "info", sip("INFO sip:101@127.0.0.1:5062 SIP/2.0",
                                   [h.replace("314159 INVITE", "314161 INFO") for h in BASE]
                                   + ["Content-Type: application/dtmf-relay"],
                                   "Signal=5\nDuration=160"))
    put("sip_message", "response-200", sip("SIP/2.0 200 OK", BASE + [
        "Content-Type: application/sdp"], SDP))
    put("sip_message", "response-401", sip("SIP/2.0 401 Unauthorized", BASE + [
        "WWW-Authenticate: Digest realm=\"trunk\", nonce=\"4f2a1c9e7b\", algorithm=MD5, qop=\"auth\""]))
    put("sip_message", "keepalive", b"\r\n\r\n")
    # RFC 4475 §3.1.1.1 "wsinv": short forms, folding, odd spacing, escaped URIs.
    put("sip_message", "rfc4475-wsinv", crlf("""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""))
    # §3.1.1.3 "esc01": escaped characters in the Request-URI and headers.
    put("sip_message", "rfc4475-esc01", sip(
        "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
        ["To: sip:%75se%72@example.com", "From: <sip:I%20have%20spaces@example.net>;tag=938",
         "Max-Forwards: 87", "i: esc01.239409asdfakjkn23onasd0-3234", "CSeq: 234234 INVITE",
         "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
         "C: application/sdp", "Contact: <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>"],
        SDP))
    # §3.1.1.5 "intmeth": an unknown method with strange tokens.
    put("sip_message", "rfc4475-intmeth", sip(
        "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0",
        ["Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
         "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>",
         "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9\";tag=_token~1'+`*%!-.",
         "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
         "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~",
         "Max-Forwards: 255"]))
    # §3.1.2.4 "scalar02": huge numbers.
    put("sip_message", "rfc4475-scalar02", sip(
        "REGISTER sip:example.com SIP/2.0",
        ["Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129",
         "To: <sip:user@example.com>", "From: <sip:other@example.net>;tag=2easdjfejw",
         "CSeq: 9292394834772304023312 OPTIONS", "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
         "Max-Forwards: 300", "Expires: 1" + "0" * 40,
         "Contact: <sip:user@host129.example.com>;expires=280297596632815"]))
    # §3.1.2.9 "lwsstart": folding where none may be; §3.1.2.1 "badinv01" garbage.
    put("sip_message", "rfc4475-badinv01", crlf("""INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp
"""))
    # §3.1.2.2 "clerr": Content-Length larger than the body; "mcl01": two of them.
    put("sip_message", "rfc4475-clerr", crlf("""INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

v=0
"""))
    put("sip_message", "rfc4475-mcl01", crlf("""OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
"""))
    put("sip_message", "rfc4475-unreason", "SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd1\x82\xd1\x8c\r\n" + "\r\n".join(BASE) + "\r\nContent-Length: 0\r\n\r\n")
    put("sip_message", "long-header", sip("OPTIONS sip:127.0.0.1 SIP/2.0", BASE + ["X-Long: " + "a" * 4000]))


def sdp_seeds():
    put("sdp", "offer", SDP)
    put("sdp", "offer-pcma-only", SDP.replace("RTP/AVP 0 8 101", "RTP/AVP 8").replace("a=rtpmap:0 PCMU/8000\n", ""))
    put("sdp", "no-common-codec", SDP.replace("RTP/AVP 0 8 101", "RTP/AVP 111").replace(
        "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\n", "a=rtpmap:111 opus/48000/2\n"))
    put("sdp", "two-media", SDP + "m=video 49172 RTP/AVP 96\na=rtpmap:96 VP8/90000\n")
    put("sdp", "ipv6-inactive", SDP.replace("IN IP4 127.0.0.1", "IN IP6 ::1").replace("sendrecv", "inactive"))
    put("sdp", "hold", SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0").replace("sendrecv", "sendonly"))
    put("sdp", "garbage", "v=0\r\nm=audio x RTP/AVP\r\nc=IN IP9 what\r\n")


def rtp_packet(pt, seq, ts, ssrc, payload, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc) + payload


def rtp_seeds():
    stream = b""
    for i in range(8):
        stream += struct.pack("<H", i * 20) + rtp_packet(8, 1000 + i, 160 * i, 0x1234, bytes([0xD5]) * 160) + b"\xA5"
    put("rtp", "stream", stream)
    put("rtp", "reordered", struct.pack("<H", 0) + rtp_packet(0, 7, 1120, 9, b"\xff" * 160) + b"\xA5"
        + struct.pack("<H", 20) + rtp_packet(0, 5, 800, 9, b"\xff" * 160) + b"\xA5"
        + struct.pack("<H", 40) + rtp_packet(0, 65535, 0, 9, b"\xff" * 160))
    ext = struct.pack("!BBHII", 0x90 | 0x20 | 2, 8, 1, 2, 3) + b"\x00\x00\x00\x00" * 2 + struct.pack("!HH", 0xBEDE, 1) + b"\x10\x00\x00\x00" + b"\x00" * 40 + b"\x00\x00\x04"
    put("rtp", "csrc-ext-padding", struct.pack("<H", 0) + ext)


def rfc4733_seeds():
    out = b""
    for i, end in enumerate([False, False, False, True, True, True]):
        out += struct.pack("!I", 8000) + bytes([5, (0x80 if end else 0) | 10]) + struct.pack("!H", 160 * (i + 1))
    put("rfc4733", "press-5", out)
    put("rfc4733", "star-pound", struct.pack("!I", 1) + bytes([10, 0x8A, 0, 200]) + struct.pack("!I", 2) + bytes([11, 0x8A, 0, 200]))
    put("rfc4733", "flash", bytes([16, 0x80, 1, 0]))


def info_seeds():
    put("sip_info", "dtmf-relay", "application/dtmf-relay\nSignal=5\r\nDuration=160\r\n")
    put("sip_info", "dtmf", "application/dtmf\n#")
    put("sip_info", "spaces", "Application/DTMF-Relay; charset=x\n  signal = *  \nduration=99999999999")


def tone(freqs, seconds, rate=8000, amp=8000):
    n = int(seconds * rate)
    return [int(sum(amp * math.sin(2 * math.pi * f * i / rate) for f in freqs) / len(freqs)) for i in range(n)]


def pcm(samples):
    return b"".join(struct.pack("<h", max(-32768, min(32767, s))) for s in samples)


def dtmf_seeds():
    put("dtmf_inband", "digit-1", pcm(tone([697, 1209], 0.1) + [0] * 800 + tone([941, 1477], 0.1)))
    put("dtmf_inband", "speech-like", pcm(tone([300, 820, 1400], 0.2, amp=12000)))
    put("dtmf_inband", "clipping", pcm([32767, -32768] * 400))


def wav(samples, rate=8000, channels=1, bits=16):
    data = pcm(samples) if bits == 16 else bytes((s >> 8) & 0xFF for s in samples)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data


def audio_seeds():
    for name in ["tone440.flac", "tone440.m4a", "tone440.mp3", "tone440.ogg"]:
        shutil.copy(os.path.join(ROOT, "tests", "fixtures", name), os.path.join(CORPUS, "audio_upload", name))
    put("audio_upload", "tone-16k.wav", wav(tone([440], 0.2, 16000), 16000))
    put("audio_upload", "stereo-48k.wav", wav(tone([440], 0.05, 48000) * 2, 48000, channels=2))
    put("wav", "name-8k.wav", wav(tone([440], 0.2)))
    put("wav", "name-16k.wav", wav(tone([440], 0.1, 16000), 16000))
    put("wav", "8bit.wav", wav(tone([440], 0.05), bits=8))
    put("wav", "truncated.wav", wav(tone([440], 0.2))[:60])
    put("wav", "huge-size.wav", b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\xff\xff\xff\xff\x00\x00")


def link_seeds():
    key = b"0123456789abcdef0123456789abcdef"
    # As core/src/link.rs signs: base64url(body) "." base64url(HMAC-SHA256(body)).
    for name, body in [("valid", "m1|u1|1900000000"), ("expired", "m1|u1|1000"), ("bars", "m|u|x|1")]:
        mac = hmac.new(key, body.encode(), hashlib.sha256).digest()
        token = base64.urlsafe_b64encode(body.encode()).rstrip(b"=") + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")
        put("link_token", name, token)
    put("link_token", "no-dot", "bTF8dTF8MTkwMDAwMDAwMA")
    put("link_token", "empty-parts", ".")


def plan_seeds():
    put("plugin_plan", "zeros", bytes(64))
    put("plugin_plan", "ascii", b"email\x00popup\x00callback\x00stream\x00" * 4)
    put("plugin_plan", "ones", bytes([0xFF]) * 64)


if __name__ == "__main__":
    os.makedirs(os.path.join(CORPUS, "audio_upload"), exist_ok=True)
    sip_seeds()
    sdp_seeds()
    rtp_seeds()
    rfc4733_seeds()
    info_seeds()
    dtmf_seeds()
    audio_seeds()
    link_seeds()
    plan_seeds()
    print("seeds written to", CORPUS)
