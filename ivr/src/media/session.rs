//! One call's RTP: a socket from the configured port range, paced sending, and a receive task
//! that turns packets into decoded 20 ms frames and key presses.
//!
//! Symmetric RTP: packets are accepted from the address the SDP named, or — for phones behind
//! NAT — from the first source with the signalled IP, which the session then latches onto and
//! sends to. Anything from elsewhere is counted as foreign and ignored, so a stray or hostile
//! sender cannot inject audio or digits into a call. Malformed datagrams are counted, never
//! fatal. When the stream pauses (no packet for `IDLE`), what the jitter buffer holds is
//! handed on, so the end of a recording is never stuck behind a gap.

use super::{
    PTIME_MS,
    codec::Codec,
    dtmf::{self, EventTracker, Method, ToneDetector},
    jitter::{Frame, JitterBuffer},
    rtp::{self, Packet},
};
use std::{
    net::{IpAddr, SocketAddr},
    ops::RangeInclusive,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{net::UdpSocket, sync::mpsc, task::JoinHandle};

/// Packets that may wait behind a gap (60 ms at 20 ms packets).
const JITTER_DEPTH: usize = 3;
/// A pause this long ends a talk spurt: flush the jitter buffer.
const IDLE: Duration = Duration::from_millis(120);
/// Length of a sent RFC 4733 key press.
const DIGIT_MS: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no free RTP port in {0:?}")]
    NoPort(RangeInclusive<u16>),
    #[error("RTP i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer did not negotiate telephone-event")]
    NoDtmf,
}

/// What was agreed for this call.
#[derive(Clone, Debug)]
pub struct Params {
    pub codec: Codec,
    pub payload_type: u8,
    pub dtmf_payload_type: Option<u8>,
    pub remote: SocketAddr,
}

/// What the receive side reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// 20 ms of decoded audio (silence where a packet was lost).
    Audio(Vec<i16>),
    Digit(char, Method),
}

/// Per-call counters, for metrics.
#[derive(Debug, Default)]
pub struct Counters {
    pub packets_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub lost: AtomicU64,
    pub foreign: AtomicU64,
    pub malformed: AtomicU64,
    /// RFC 3550 interarrival jitter, in microseconds.
    pub jitter_us: AtomicU64,
}

impl Counters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Bind an even port (RTP's convention) in `ports` on `ip`.
pub async fn bind(ip: IpAddr, ports: RangeInclusive<u16>) -> Result<UdpSocket, MediaError> {
    let start = *ports.start() + (*ports.start() % 2);
    for port in (start..=*ports.end()).step_by(2) {
        if let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, port)).await {
            return Ok(s);
        }
    }
    Err(MediaError::NoPort(ports))
}

pub struct RtpSession {
    socket: Arc<UdpSocket>,
    remote: Arc<Mutex<SocketAddr>>,
    params: Params,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    counters: Arc<Counters>,
    receiver: JoinHandle<()>,
}

impl std::fmt::Debug for RtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpSession")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl RtpSession {
    /// Start receiving on `socket`; events arrive on the returned channel.
    pub fn start(socket: UdpSocket, params: Params) -> (Self, mpsc::Receiver<MediaEvent>) {
        let socket = Arc::new(socket);
        let remote = Arc::new(Mutex::new(params.remote));
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel(256);
        let receiver = tokio::spawn(receive(
            socket.clone(),
            params.clone(),
            remote.clone(),
            counters.clone(),
            tx,
        ));
        let seed = rand_u32();
        let session = Self {
            socket,
            remote,
            params,
            ssrc: seed,
            sequence: (seed >> 16) as u16,
            timestamp: seed.rotate_left(7),
            counters,
            receiver,
        };
        (session, rx)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    fn remote(&self) -> SocketAddr {
        *self.remote.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send(
        &mut self,
        payload_type: u8,
        marker: bool,
        payload: Vec<u8>,
    ) -> Result<(), MediaError> {
        let bytes = rtp::build(&Packet {
            payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            marker,
            payload,
        });
        self.sequence = self.sequence.wrapping_add(1);
        self.socket.send_to(&bytes, self.remote()).await?;
        self.counters.packets_out.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Send audio (at the line rate), one packet every 20 ms; the last frame is padded with
    /// silence.
    pub async fn play(&mut self, pcm: &[i16]) -> Result<(), MediaError> {
        let codec = self.params.codec;
        let mut tick = tokio::time::interval(Duration::from_millis(u64::from(PTIME_MS)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for (i, chunk) in pcm.chunks(codec.frame()).enumerate() {
            tick.tick().await;
            let mut frame = chunk.to_vec();
            frame.resize(codec.frame(), 0);
            let payload = codec.encode(&frame);
            self.send(self.params.payload_type, i == 0, payload).await?;
            self.timestamp = self.timestamp.wrapping_add(codec.timestamp_step());
        }
        Ok(())
    }

    /// Send one key press as RFC 4733 events: updates every 20 ms, then three end packets.
    pub async fn send_digit(&mut self, digit: char) -> Result<(), MediaError> {
        let pt = self.params.dtmf_payload_type.ok_or(MediaError::NoDtmf)?;
        let event = dtmf::digit_event(digit).ok_or(MediaError::NoDtmf)?;
        let codec = self.params.codec;
        let (step, length) = (
            u16::try_from(codec.timestamp_step()).unwrap_or(u16::MAX),
            u16::try_from(codec.ticks(DIGIT_MS)).unwrap_or(u16::MAX),
        );
        let mut tick = tokio::time::interval(Duration::from_millis(u64::from(PTIME_MS)));
        let mut duration = 0u16;
        let mut first = true;
        while duration < length {
            tick.tick().await;
            duration = duration.saturating_add(step);
            self.send(
                pt,
                first,
                dtmf::encode_event(event, false, 10, duration).to_vec(),
            )
            .await?;
            first = false;
        }
        for _ in 0..3 {
            self.send(
                pt,
                false,
                dtmf::encode_event(event, true, 10, duration).to_vec(),
            )
            .await?;
        }
        self.timestamp = self.timestamp.wrapping_add(u32::from(duration));
        Ok(())
    }
}

impl Drop for RtpSession {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

async fn receive(
    socket: Arc<UdpSocket>,
    params: Params,
    remote: Arc<Mutex<SocketAddr>>,
    counters: Arc<Counters>,
    tx: mpsc::Sender<MediaEvent>,
) {
    let started = Instant::now();
    let mut latched: Option<SocketAddr> = None;
    let mut jitter = JitterBuffer::new(JITTER_DEPTH);
    let mut events = EventTracker::default();
    let mut tones = ToneDetector::default();
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = match tokio::time::timeout(IDLE, socket.recv_from(&mut buf)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "RTP receive error");
                continue;
            }
            Err(_) => {
                // A pause: hand on what waits behind any gap.
                let frames = jitter.drain();
                if !deliver(frames, &params, &counters, &mut tones, &tx).await {
                    return;
                }
                continue;
            }
        };
        match latched {
            Some(a) if a != from => {
                counters.foreign.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            None if from.ip() != params.remote.ip() => {
                counters.foreign.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            None => {
                latched = Some(from);
                *remote.lock().unwrap_or_else(|p| p.into_inner()) = from;
            }
            Some(_) => {}
        }
        let Ok(packet) = rtp::parse(&buf[..n]) else {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        counters.packets_in.fetch_add(1, Ordering::Relaxed);
        if Some(packet.payload_type) == params.dtmf_payload_type {
            if let Some(d) = events.on_packet(packet.timestamp, &packet.payload)
                && tx
                    .send(MediaEvent::Digit(d, Method::Rfc4733))
                    .await
                    .is_err()
            {
                return;
            }
            continue;
        }
        if packet.payload_type != params.payload_type {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let clock = u128::from(params.codec.clock_rate());
        let arrival =
            u32::try_from(started.elapsed().as_micros() * clock / 1_000_000).unwrap_or(u32::MAX);
        jitter.push(packet, arrival);
        counters.jitter_us.store(
            jitter.jitter() * 1_000_000 / clock as u64,
            Ordering::Relaxed,
        );
        let frames: Vec<Frame> = std::iter::from_fn(|| jitter.pop()).collect();
        if !deliver(frames, &params, &counters, &mut tones, &tx).await {
            return;
        }
    }
}

/// Decode frames and report them (and any in-band digit); false once nobody listens.
async fn deliver(
    frames: Vec<Frame>,
    params: &Params,
    counters: &Counters,
    tones: &mut ToneDetector,
    tx: &mpsc::Sender<MediaEvent>,
) -> bool {
    for frame in frames {
        let pcm = match frame {
            Frame::Audio(p) => params.codec.decode(&p.payload),
            Frame::Lost(_) => {
                counters.lost.fetch_add(1, Ordering::Relaxed);
                vec![0; params.codec.frame()]
            }
        };
        if let Some(d) = tones.push_frame(&pcm)
            && tx.send(MediaEvent::Digit(d, Method::InBand)).await.is_err()
        {
            return false;
        }
        if tx.send(MediaEvent::Audio(pcm)).await.is_err() {
            return false;
        }
    }
    true
}
