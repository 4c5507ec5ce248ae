//! Driving sipp as a caller (REAL-CLIENTS.md): a scenario built step by step — RFC 4733 key
//! presses from sipp's own pcaps, SIP INFO key presses, audio we generate as a PCMA pcap (so
//! the test knows exactly what was sent), pauses — run against the IVR with a time limit.
//!
//! Over 500 lines on purpose: the caller, the callee and the batches are one idea (sipp as a
//! peer), and sipp's scenario XML is text that has to be written out.

use anyhow::{Context, Result, bail};
use std::{net::SocketAddr, path::Path, time::Duration};

const DTMF_DIR: &str = "/usr/share/sip-tester";

/// One caller recording a message, shared with `scripts/bench-ivr.py`; every caller here
/// starts its call the same way.
const RECORDING_CALL: &str = include_str!("../../scripts/sipp/recording-call.xml");

/// One step after the call is answered.
#[derive(Clone, Debug)]
pub enum Step {
    Pause(u32),
    /// Keys as RFC 4733 events (sipp's pcaps), 400 ms apart.
    Keys(&'static str),
    /// Keys as SIP INFO (`application/dtmf-relay`), each answered 200.
    InfoKeys(&'static str),
    /// Hark hangs up within this many ms (its BYE is answered 200); must be the last step.
    ExpectBye(u32),
    /// Play a pcap we wrote; waits for its length.
    Audio {
        pcap: std::path::PathBuf,
        ms: u32,
    },
}

pub struct Scenario {
    pub from_user: String,
    pub to_user: String,
    pub steps: Vec<Step>,
}

fn dtmf_pcap(key: char) -> String {
    let name = match key {
        '#' => "pound".to_owned(),
        '*' => "star".to_owned(),
        d => d.to_string(),
    };
    format!("{DTMF_DIR}/dtmf_2833_{name}.pcap")
}

impl Scenario {
    fn xml(&self) -> String {
        let mut body = String::new();
        let mut cseq = 1;
        for step in &self.steps {
            match step {
                Step::Pause(ms) => body.push_str(&format!("  <pause milliseconds=\"{ms}\"/>\n")),
                Step::Keys(keys) => {
                    for k in keys.chars() {
                        body.push_str(&format!(
                            "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"400\"/>\n",
                            dtmf_pcap(k)
                        ));
                    }
                }
                Step::InfoKeys(keys) => {
                    for k in keys.chars() {
                        cseq += 1;
                        body.push_str(&format!(
                            r#"  <send retrans="500"><![CDATA[
INFO sip:{to}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{from}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} INFO
Contact: <sip:{from}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal={k}
Duration=160
]]></send>
  <recv response="200"/>
  <pause milliseconds="300"/>
"#,
                            to = self.to_user,
                            from = self.from_user,
                        ));
                    }
                }
                Step::ExpectBye(_) => {}
                Step::Audio { pcap, ms } => body.push_str(&format!(
                    "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"{}\"/>\n",
                    pcap.display(),
                    ms + 100
                )),
            }
        }
        cseq += 1;
        let ending = match self.steps.last() {
            Some(Step::ExpectBye(ms)) => format!(
                r#"  <recv request="BYE" timeout="{ms}"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"#
            ),
            _ => format!(
                r#"  <send retrans="500"><![CDATA[
BYE sip:{to}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{from}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} BYE
Contact: <sip:{from}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
"#,
                to = self.to_user,
                from = self.from_user,
            ),
        };
        format!("{}{body}{ending}</scenario>\n", self.call_start())
    }

    /// The call's INVITE and ACK, as the recording call (and the IVR benchmark) makes them
    /// (`scripts/sipp/recording-call.xml`), from `from_user` to `to_user`.
    fn call_start(&self) -> String {
        let call = RECORDING_CALL
            .replace("{from}", &self.from_user)
            .replace("{to}", &self.to_user);
        let ack = call.find("ACK sip:").expect("the scenario has an ACK");
        let end = ack + call[ack..].find("]]></send>\n").expect("the ACK ends") + 11;
        call[..end].to_owned()
    }

    /// Run one call against `ivr`; an error carries sipp's error log.
    pub async fn run(&self, ivr: SocketAddr, dir: &Path, limit: Duration) -> Result<()> {
        let xml = dir.join(format!("uac-{}.xml", std::process::id()));
        std::fs::write(&xml, self.xml())?;
        let errors = dir.join("sipp-errors.log");
        let mut cmd = tokio::process::Command::new("sipp");
        cmd.arg(ivr.to_string())
            .args(["-sf"])
            .arg(&xml)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0", "-mp"])
            .arg(free_even_port()?.to_string())
            .args([
                "-m",
                "1",
                "-l",
                "1",
                "-nostdin",
                "-trace_err",
                "-error_file",
            ])
            .arg(&errors)
            .args([
                "-timeout",
                &format!("{}s", limit.as_secs()),
                "-timeout_error",
            ])
            .current_dir(dir)
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let out = tokio::time::timeout(limit + Duration::from_secs(10), cmd.output())
            .await
            .context("sipp did not finish")??;
        if !out.status.success() {
            let log = std::fs::read_to_string(&errors).unwrap_or_default();
            bail!(
                "sipp failed ({}): {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                log
            );
        }
        Ok(())
    }
}

/// A free even UDP port for sipp's media (it takes the next one too for RTCP).
fn free_even_port() -> Result<u16> {
    for _ in 0..50 {
        let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let p = s.local_addr()?.port();
        if p % 2 == 0 && p < 65_000 && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return Ok(p);
        }
    }
    bail!("no free even port")
}

/// Write `pcm` (8 kHz) as a pcap of PCMA RTP packets, 20 ms apart, as sipp replays them.
pub fn write_pcma_pcap(path: &Path, pcm: &[i16]) -> Result<u32> {
    let mut out = Vec::new();
    // Global header: magic, version 2.4, zone, sigfigs, snaplen, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut n = 0u32;
    for (i, chunk) in pcm.chunks(160).enumerate() {
        let mut frame = chunk.to_vec();
        frame.resize(160, 0);
        let payload: Vec<u8> = frame.iter().map(|&s| alaw(s)).collect();
        let mut rtp = vec![0x80, if i == 0 { 0x88 } else { 0x08 }];
        rtp.extend_from_slice(&(i as u16).to_be_bytes());
        rtp.extend_from_slice(&((i as u32) * 160).to_be_bytes());
        rtp.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        rtp.extend_from_slice(&payload);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut pkt = Vec::with_capacity(14 + ip_len);
        pkt.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        let sum = ip_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        pkt.extend_from_slice(&ip);
        pkt.extend_from_slice(&6000u16.to_be_bytes());
        pkt.extend_from_slice(&6000u16.to_be_bytes());
        pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
        pkt.extend_from_slice(&0u16.to_be_bytes());
        pkt.extend_from_slice(&rtp);
        let usec = i as u64 * 20_000;
        out.extend_from_slice(&((usec / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((usec % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(&pkt);
        n += 1;
    }
    std::fs::write(path, out)?;
    Ok(n * 20)
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// G.711 A-law, written out here so the test does not share the code it checks.
pub fn alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let segs = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let seg = segs.iter().position(|&s| pcm <= s).unwrap_or(8);
    let aval = if seg >= 8 {
        0x7F
    } else {
        let shift = if seg < 2 { 1 } else { seg };
        ((seg as i32) << 4) | ((pcm >> shift) & 0x0F)
    };
    (aval as u8) ^ mask
}

/// `seconds` of a sine at 8 kHz.
pub fn tone(freq: f32, seconds: f32, amplitude: f32) -> Vec<i16> {
    let n = (seconds * 8000.0) as usize;
    (0..n)
        .map(|i| (amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / 8000.0).sin()) as i16)
        .collect()
}

/// sipp as the phone Hark calls (a callback's callee, or a trunk in front of one).
#[derive(Clone, Debug)]
pub enum Callee {
    /// Answer (after a digest challenge when `auth` is set, refusing wrong credentials with
    /// 403), press `keys` as RFC 4733 events `after_ms` after the ACK, then wait for Hark's BYE.
    Answer {
        auth: Option<(&'static str, &'static str)>,
        after_ms: u32,
        keys: &'static str,
    },
    /// 486 Busy Here.
    Busy,
    /// Ring until Hark gives up and cancels.
    Ring,
    /// Not the trunk, yet asks for credentials (401), then listens for 3 s: any second INVITE
    /// (it would carry the trunk's credentials) is unexpected and fails the scenario.
    Challenge,
}

/// A running sipp callee; [`CalleeRun::finish`] waits for its one call to complete.
pub struct CalleeRun {
    child: tokio::process::Child,
    errors: std::path::PathBuf,
    pub addr: SocketAddr,
}

const INVITE_CSEQ: &str = r#"<action><ereg regexp="([0-9]+) INVITE" search_in="hdr" header="CSeq:" assign_to="cseq,n"/></action>"#;

impl Callee {
    fn xml(&self) -> String {
        let reply = |status: &str, extra: &str, sdp: bool| {
            let (ctype, body) = if sdp {
                (
                    "Content-Type: application/sdp\n",
                    "\nv=0\no=callee 1 1 IN IP4 [local_ip]\ns=-\nc=IN IP4 [media_ip]\nt=0 0\n\
                     m=audio [media_port] RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\n\
                     a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n",
                )
            } else {
                ("", "\n")
            };
            format!(
                "  <send><![CDATA[\nSIP/2.0 {status}\n[last_Via:]\n[last_From:]\n\
                 [last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\n[last_CSeq:]\n\
                 Contact: <sip:callee@[local_ip]:[local_port]>\n{extra}{ctype}Content-Length: [len]\n{body}]]></send>\n"
            )
        };
        let body = match self {
            Callee::Answer {
                auth,
                after_ms,
                keys,
            } => {
                let mut s = String::new();
                if let Some((user, password)) = auth {
                    s.push_str("  <recv request=\"INVITE\"/>\n");
                    s.push_str(&reply(
                        "401 Unauthorized",
                        "WWW-Authenticate: Digest realm=\"hark-test\", nonce=\"4f2a1c9e7b\", algorithm=MD5\n",
                        false,
                    ));
                    s.push_str("  <recv request=\"ACK\"/>\n");
                    s.push_str(&format!(
                        "  <recv request=\"INVITE\"><action><verifyauth assign_to=\"authvalid\" \
                         username=\"{user}\" password=\"{password}\"/></action></recv>\n\
                         <nop hide=\"true\" test=\"authvalid\" next=\"authorized\"/>\n"
                    ));
                    s.push_str(&reply("403 Forbidden", "", false));
                    s.push_str(
                        "  <recv request=\"ACK\" next=\"end\"/>\n  <label id=\"authorized\"/>\n",
                    );
                } else {
                    s.push_str("  <recv request=\"INVITE\"/>\n");
                }
                s.push_str(&reply("180 Ringing", "", false));
                s.push_str(&reply("200 OK", "", true));
                s.push_str("  <recv request=\"ACK\"/>\n");
                s.push_str(&format!("  <pause milliseconds=\"{after_ms}\"/>\n"));
                for k in keys.chars() {
                    s.push_str(&format!(
                        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"400\"/>\n",
                        dtmf_pcap(k)
                    ));
                }
                s.push_str("  <recv request=\"BYE\"/>\n");
                s.push_str(&reply("200 OK", "", false));
                s.push_str("  <label id=\"end\"/>\n  <timewait milliseconds=\"500\"/>\n");
                s
            }
            Callee::Challenge => {
                let mut s = String::from("  <recv request=\"INVITE\"/>\n");
                s.push_str(&reply(
                    "401 Unauthorized",
                    "WWW-Authenticate: Digest realm=\"not-the-trunk\", nonce=\"9d1e5c\", algorithm=MD5\n",
                    false,
                ));
                s.push_str("  <recv request=\"ACK\"/>\n");
                // A message arriving during the pause is unexpected: sipp fails the call.
                s.push_str("  <pause milliseconds=\"3000\"/>\n");
                s
            }
            Callee::Busy => {
                let mut s = String::from("  <recv request=\"INVITE\"/>\n");
                s.push_str(&reply("486 Busy Here", "", false));
                s.push_str("  <recv request=\"ACK\"/>\n");
                s
            }
            Callee::Ring => {
                let mut s = format!("  <recv request=\"INVITE\">{INVITE_CSEQ}</recv>\n");
                s.push_str(&reply("180 Ringing", "", false));
                s.push_str("  <recv request=\"CANCEL\"/>\n");
                s.push_str(&reply("200 OK", "", false));
                s.push_str(
                    "  <send><![CDATA[\nSIP/2.0 487 Request Terminated\n[last_Via:]\n[last_From:]\n\
                     [last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\nCSeq: [$n] INVITE\n\
                     X-Invite-CSeq: [$cseq]\nContent-Length: 0\n\n]]></send>\n  <recv request=\"ACK\"/>\n",
                );
                s
            }
        };
        format!(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"hark callee\">\n{body}</scenario>\n"
        )
    }

    /// Listen on a free port for one call, for at most `limit`.
    pub async fn listen(&self, dir: &Path, limit: Duration) -> Result<CalleeRun> {
        self.listen_calls(dir, limit, 1).await
    }

    /// Listen on a free port for `calls` calls (one after another or at once), for at most
    /// `limit`.
    pub async fn listen_calls(
        &self,
        dir: &Path,
        limit: Duration,
        calls: usize,
    ) -> Result<CalleeRun> {
        let name = format!("uas-{}-{}", std::process::id(), free_even_port()?);
        let xml = dir.join(format!("{name}.xml"));
        std::fs::write(&xml, self.xml())?;
        let errors = dir.join(format!("{name}-errors.log"));
        let port = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
            s.local_addr()?.port()
        };
        let mut cmd = tokio::process::Command::new("sipp");
        cmd.args(["-sf"])
            .arg(&xml)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .arg("-mp")
            .arg(free_even_port()?.to_string())
            .arg("-m")
            .arg(calls.to_string())
            .args(["-nostdin", "-trace_err", "-error_file"])
            .arg(&errors)
            .args([
                "-timeout",
                &format!("{}s", limit.as_secs()),
                "-timeout_error",
            ])
            .current_dir(dir)
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().context("starting sipp")?;
        Ok(CalleeRun {
            child,
            errors,
            addr: ([127, 0, 0, 1], port).into(),
        })
    }
}

impl CalleeRun {
    /// Wait for sipp to finish its call; an error carries its log.
    pub async fn finish(self, limit: Duration) -> Result<()> {
        let out = tokio::time::timeout(limit, self.child.wait_with_output())
            .await
            .context("sipp (callee) did not finish")??;
        if !out.status.success() {
            bail!(
                "sipp (callee) failed ({}): {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&self.errors).unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// Many callers at once, each recording a message with a direct dial: `from` dials `to`
/// (`*102`), keys the demo PIN as RFC 4733 events, then streams a 440 Hz PCMA tone (sipp's
/// `rtp_stream`) for `hold_ms` and hangs up, which sends the message. `calls` calls at `rate`
/// a second, all up at once.
pub struct RecordingCalls {
    pub from: &'static str,
    pub to: &'static str,
    pub calls: usize,
    pub rate: u32,
    pub hold_ms: u32,
}

/// A running batch; [`RecordingRun::finish`] gives how many calls succeeded and failed.
pub struct RecordingRun {
    child: tokio::process::Child,
    dir: std::path::PathBuf,
    name: String,
}

impl RecordingCalls {
    /// The recording call `scripts/bench-ivr.py` makes too, filled in for this batch.
    fn xml(&self, tone: &Path) -> String {
        RECORDING_CALL
            .replace("{from}", self.from)
            .replace("{to}", self.to)
            .replace("{tone}", &tone.display().to_string())
            .replace("{hold_ms}", &self.hold_ms.to_string())
    }

    /// Start the batch against `target` (an IVR, or a dispatcher in front of IVRs).
    pub async fn start(&self, target: SocketAddr, dir: &Path, name: &str) -> Result<RecordingRun> {
        let tone = dir.join(format!("{name}-tone.alaw"));
        let samples = tone_alaw(440.0, f64::from(self.hold_ms) / 1000.0 + 5.0);
        std::fs::write(&tone, samples)?;
        let xml = dir.join(format!("{name}.xml"));
        std::fs::write(&xml, self.xml(&tone))?;
        let child = tokio::process::Command::new("sipp")
            .arg(target.to_string())
            .arg("-sf")
            .arg(&xml)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0", "-mp"])
            .arg(free_even_port()?.to_string())
            .arg("-r")
            .arg(self.rate.to_string())
            .arg("-l")
            .arg(self.calls.to_string())
            .arg("-m")
            .arg(self.calls.to_string())
            .args(["-nostdin", "-trace_stat", "-fd", "1", "-trace_err"])
            .arg("-stf")
            .arg(dir.join(format!("{name}-stat.csv")))
            .arg("-error_file")
            .arg(dir.join(format!("{name}-errors.log")))
            .args(["-timeout", "120s", "-recv_timeout", "10000"])
            .current_dir(dir)
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting sipp")?;
        Ok(RecordingRun {
            child,
            dir: dir.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl RecordingRun {
    /// The first lines of sipp's error log (why calls failed).
    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}-errors.log", self.name)))
            .unwrap_or_default()
            .lines()
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Wait for every call to end: (successful, failed), from sipp's statistics.
    pub async fn finish(&mut self, limit: Duration) -> Result<(u64, u64)> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .context("sipp (recording calls) did not finish")??;
        let stats = std::fs::read_to_string(self.dir.join(format!("{}-stat.csv", self.name)))?;
        let rows: Vec<&str> = stats.lines().filter(|l| !l.trim().is_empty()).collect();
        let head: Vec<&str> = rows
            .first()
            .context("sipp statistics")?
            .split(';')
            .collect();
        let last: Vec<&str> = rows.last().context("sipp statistics")?.split(';').collect();
        let field = |name: &str| -> Result<u64> {
            let i = head
                .iter()
                .position(|h| *h == name)
                .with_context(|| format!("{name} in sipp's statistics"))?;
            Ok(last.get(i).and_then(|v| v.trim().parse().ok()).unwrap_or(0))
        };
        Ok((field("SuccessfulCall(C)")?, field("FailedCall(C)")?))
    }
}

/// `seconds` of a sine as raw A-law, for sipp's `rtp_stream`.
fn tone_alaw(freq: f64, seconds: f64) -> Vec<u8> {
    let n = (seconds * 8000.0) as usize;
    (0..n)
        .map(|i| {
            let s = 12_000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin();
            alaw(s as i16)
        })
        .collect()
}
