//! Key presses, whichever way the phone sends them.
//!
//! - RFC 4733 `telephone-event` packets ([`EventTracker`]): one event is identified by its RTP
//!   timestamp and repeated (start, updates, three end packets); it is one digit.
//! - SIP INFO bodies ([`parse_info`]): `application/dtmf-relay` (`Signal=5`) and
//!   `application/dtmf` (`5`).
//! - In-band tones ([`ToneDetector`]): Goertzel filters on 20 ms frames of 8 kHz audio, with
//!   the checks a real detector needs to ignore speech and music — one dominant row and one
//!   dominant column tone, twist within limits, most of the frame's energy in that pair, a
//!   minimum level, and at least 40 ms of tone.
//!
//! Phones often send a press two ways at once (RFC 4733 and the tone itself, or INFO too);
//! [`Debouncer`] makes that one digit.

/// How a digit arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Rfc4733,
    SipInfo,
    InBand,
}

impl Method {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Rfc4733 => "rfc4733",
            Method::SipInfo => "sip_info",
            Method::InBand => "inband",
        }
    }
}

/// RFC 4733 event codes 0–15.
pub fn event_digit(event: u8) -> Option<char> {
    b"0123456789*#ABCD"
        .get(usize::from(event))
        .map(|&b| char::from(b))
}

/// One RFC 4733 `telephone-event` payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

/// Parse a `telephone-event` payload (4 bytes; extra bytes are ignored as the RFC allows for
/// redundancy we do not use).
pub fn parse_event(payload: &[u8]) -> Option<TelephoneEvent> {
    let [event, flags, d0, d1, ..] = *payload else {
        return None;
    };
    Some(TelephoneEvent {
        event,
        end: flags & 0x80 != 0,
        volume: flags & 0x3F,
        duration: u16::from_be_bytes([d0, d1]),
    })
}

/// The RFC 4733 event code of a key.
pub fn digit_event(digit: char) -> Option<u8> {
    "0123456789*#ABCD"
        .find(digit.to_ascii_uppercase())
        .and_then(|i| u8::try_from(i).ok())
}

/// A `telephone-event` payload: `volume` in -dBm0 (0–63), `duration` in timestamp units.
pub fn encode_event(event: u8, end: bool, volume: u8, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [
        event,
        if end { 0x80 } else { 0 } | (volume & 0x3F),
        d[0],
        d[1],
    ]
}

/// Turns a stream of `telephone-event` packets into digits: each event (RTP timestamp) once,
/// at its first packet, so the caller hears the menu react at once. The end packets of an
/// event are sent three times and must not count again; but a packet that is not an end,
/// arriving after the event ended, is a new press even with the same timestamp — clients that
/// replay a recorded press (sipp's pcaps) reuse timestamps.
#[derive(Debug, Default)]
pub struct EventTracker {
    last_timestamp: Option<u32>,
    ended: bool,
}

impl EventTracker {
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = parse_event(payload)?;
        let digit = event_digit(ev.event)?;
        let same = self.last_timestamp == Some(timestamp);
        if same && (ev.end || !self.ended) {
            self.ended |= ev.end;
            return None;
        }
        self.last_timestamp = Some(timestamp);
        self.ended = ev.end;
        Some(digit)
    }
}

pub fn parse_info(content_type: &str, body: &str) -> Option<char> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let value = match ct.as_str() {
        "application/dtmf-relay" => body.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?,
        "application/dtmf" => body.trim(),
        _ => return None,
    };
    let mut chars = value.chars();
    let c = chars.next()?.to_ascii_uppercase();
    if chars.next().is_some() {
        // Some phones send the event number ("10" for '*').
        return value.parse::<u8>().ok().and_then(event_digit);
    }
    "0123456789*#ABCD".contains(c).then_some(c)
}

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Frames of tone needed for a digit (2 × 20 ms = 40 ms, the ITU Q.24 minimum).
const MIN_FRAMES: u32 = 2;
/// Lowest accepted level: mean square of the frame (about -40 dBm0).
const MIN_POWER: f32 = 150.0 * 150.0;
/// The winning tone must beat the next in its group by this power ratio (6 dB).
const DOMINANCE: f32 = 4.0;
/// Row/column power ratio limits (±8 dB).
const MAX_TWIST: f32 = 6.3;
/// Share of the frame's energy that must be in the two tones.
const MIN_PURITY: f32 = 0.7;

/// Goertzel coefficients of the four row tones, then the four column tones.
static COEFFS: std::sync::LazyLock<[f32; 8]> = std::sync::LazyLock::new(|| {
    let mut c = [0.0; 8];
    for (c, f) in c.iter_mut().zip(ROWS.iter().chain(COLS.iter())) {
        *c = 2.0 * (2.0 * std::f32::consts::PI * f / super::LINE_RATE as f32).cos();
    }
    c
});

/// The key whose tone pair is in this frame, if any.
///
/// All eight Goertzel filters run in one pass, side by side: each filter is a chain of
/// dependent steps, so running them one after another left the core waiting on each step,
/// and this runs for every 20 ms frame of every call that is not silent.
fn classify(pcm: &[i16]) -> Option<char> {
    let energy: f32 = pcm.iter().map(|&s| f32::from(s) * f32::from(s)).sum();
    if pcm.is_empty() || energy / (pcm.len() as f32) < MIN_POWER {
        return None;
    }
    let coeff = &*COEFFS;
    let (mut s1, mut s2) = ([0.0f32; 8], [0.0f32; 8]);
    for &x in pcm {
        let x = f32::from(x);
        for k in 0..8 {
            let s0 = x + coeff[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    // Each tone's power as a share of the frame's energy (1.0 for a pure sine).
    let mut shares = [0.0f32; 8];
    for k in 0..8 {
        let power = s1[k] * s1[k] + s2[k] * s2[k] - coeff[k] * s1[k] * s2[k];
        shares[k] = 2.0 * power / (pcm.len() as f32 * energy);
    }
    let best = |group: &[f32]| {
        let mut order: [(usize, f32); 4] = [(0, 0.0); 4];
        for (i, &p) in group.iter().enumerate() {
            order[i] = (i, p);
        }
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        (order[0], order[1].1)
    };
    let ((r, rp), r_next) = best(&shares[..4]);
    let ((c, cp), c_next) = best(&shares[4..]);
    let dominant = rp > DOMINANCE * r_next && cp > DOMINANCE * c_next;
    let twist_ok = rp / cp < MAX_TWIST && cp / rp < MAX_TWIST;
    let pure = rp + cp > MIN_PURITY;
    (dominant && twist_ok && pure).then_some(KEYS[r][c])
}

/// In-band detection over consecutive 20 ms frames.
#[derive(Debug, Default)]
pub struct ToneDetector {
    current: Option<char>,
    frames: u32,
    reported: bool,
}

impl ToneDetector {
    /// Feed one frame (160 samples at 8 kHz); returns a digit once per press.
    pub fn push_frame(&mut self, pcm: &[i16]) -> Option<char> {
        let key = classify(pcm);
        if key != self.current {
            self.current = key;
            self.frames = 0;
            self.reported = false;
        }
        let key = key?;
        self.frames += 1;
        if self.frames >= MIN_FRAMES && !self.reported {
            self.reported = true;
            return Some(key);
        }
        None
    }
}

/// Merges presses that arrive by more than one method: the same digit by another method
/// within `window_ms` is the same press. Repeats by one method are trusted, since each method
/// already reports a press once.
#[derive(Debug)]
pub struct Debouncer {
    window_ms: u64,
    last: Option<(char, Method, u64)>,
}

impl Debouncer {
    pub fn new(window_ms: u64) -> Self {
        Self {
            window_ms,
            last: None,
        }
    }

    /// Is this a new press?
    pub fn accept(&mut self, digit: char, method: Method, at_ms: u64) -> bool {
        if let Some((d, m, t)) = self.last
            && d == digit
            && m != method
            && at_ms.saturating_sub(t) <= self.window_ms
        {
            return false;
        }
        self.last = Some((digit, method, at_ms));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::LINE_FRAME as FRAME;

    /// `ms` of the DTMF pair for `key` (or silence for None), as 20 ms frames.
    fn tone(key: Option<char>, ms: usize, start: &mut usize) -> Vec<Vec<i16>> {
        let pair = key.map(|k| {
            let (r, c) = (0..4)
                .flat_map(|r| (0..4).map(move |c| (r, c)))
                .find(|&(r, c)| KEYS[r][c] == k)
                .unwrap();
            (ROWS[r], COLS[c])
        });
        let n = ms * 8;
        let samples: Vec<i16> = (*start..*start + n)
            .map(|i| {
                let t = i as f32 / 8000.0;
                pair.map_or(0.0, |(a, b)| {
                    7000.0 * (2.0 * std::f32::consts::PI * a * t).sin()
                        + 6000.0 * (2.0 * std::f32::consts::PI * b * t).sin()
                }) as i16
            })
            .collect();
        *start += n;
        samples.chunks(FRAME).map(<[i16]>::to_vec).collect()
    }

    fn detect(frames: &[Vec<i16>]) -> String {
        let mut d = ToneDetector::default();
        frames.iter().filter_map(|f| d.push_frame(f)).collect()
    }

    #[test]
    fn every_key_is_heard_once() {
        for key in "0123456789*#ABCD".chars() {
            let mut t = 0;
            let mut frames = tone(Some(key), 100, &mut t);
            frames.extend(tone(None, 100, &mut t));
            assert_eq!(detect(&frames), key.to_string());
        }
    }

    #[test]
    fn repeated_presses_count_and_blips_do_not() {
        let mut t = 0;
        let mut frames = tone(Some('1'), 80, &mut t);
        frames.extend(tone(None, 60, &mut t));
        frames.extend(tone(Some('1'), 80, &mut t));
        frames.extend(tone(None, 40, &mut t));
        frames.extend(tone(Some('5'), 20, &mut t)); // too short
        assert_eq!(detect(&frames), "11");
    }

    #[test]
    fn speech_music_and_noise_are_not_digits() {
        let n = 8000;
        let harmonics: Vec<i16> = (0..n)
            .map(|i| {
                let t = i as f32 / 8000.0;
                [220.0f32, 440.0, 660.0, 880.0, 1100.0, 1320.0]
                    .iter()
                    .map(|f| 3000.0 * (2.0 * std::f32::consts::PI * f * t).sin())
                    .sum::<f32>() as i16
            })
            .collect();
        let dial_tone: Vec<i16> = (0..n)
            .map(|i| {
                (9000.0 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()) as i16
            })
            .collect();
        let mut x: u32 = 12345;
        let noise: Vec<i16> = (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((x >> 16) as i16) / 4
            })
            .collect();
        for signal in [harmonics, dial_tone, noise] {
            let frames: Vec<Vec<i16>> = signal.chunks(FRAME).map(<[i16]>::to_vec).collect();
            assert_eq!(detect(&frames), "");
        }
    }

    #[test]
    fn rfc4733_events_are_one_digit_each() {
        let mut tr = EventTracker::default();
        let start = [5, 0x0A, 0, 160];
        let end = [5, 0x8A, 3, 32];
        let mut got = String::new();
        for (ts, p) in [
            (800, start),
            (800, start),
            (800, end),
            (800, end),
            (800, end),
        ] {
            got.extend(tr.on_packet(ts, &p));
        }
        for (ts, p) in [(4000, [11, 0x0A, 0, 160]), (4000, [11, 0x8A, 2, 0])] {
            got.extend(tr.on_packet(ts, &p));
        }
        assert_eq!(got, "5#");
        // The same press replayed (same timestamp) after it ended is a second press.
        assert_eq!(tr.on_packet(4000, &[11, 0x0A, 0, 160]), Some('#'));
        assert_eq!(tr.on_packet(4000, &[11, 0x0A, 1, 64]), None);
        assert_eq!(tr.on_packet(4000, &[11, 0x8A, 2, 0]), None);
        assert_eq!(tr.on_packet(9, &[1, 2]), None, "short payload");
        assert_eq!(tr.on_packet(10, &[99, 0, 0, 0]), None, "not a key");
    }

    #[test]
    fn events_encode_as_they_parse() {
        let p = encode_event(digit_event('#').unwrap(), true, 10, 800);
        assert_eq!(
            parse_event(&p),
            Some(TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            })
        );
        assert_eq!(digit_event('x'), None);
        assert_eq!(digit_event('d'), Some(15));
    }

    #[test]
    fn sip_info_bodies() {
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(
            parse_info("Application/DTMF-Relay; charset=x", "signal= #\n"),
            Some('#')
        );
        assert_eq!(parse_info("application/dtmf", "7"), Some('7'));
        assert_eq!(parse_info("application/dtmf", "10"), Some('*'));
        assert_eq!(parse_info("application/dtmf-relay", "Duration=160"), None);
        assert_eq!(parse_info("text/plain", "5"), None);
        assert_eq!(parse_info("application/dtmf", "X"), None);
    }

    #[test]
    fn one_press_sent_two_ways_is_one_digit() {
        let mut d = Debouncer::new(120);
        assert!(d.accept('5', Method::Rfc4733, 1000));
        assert!(
            !d.accept('5', Method::InBand, 1040),
            "same press, other method"
        );
        assert!(d.accept('5', Method::Rfc4733, 1200), "a second press");
        assert!(d.accept('6', Method::InBand, 1210));
        assert!(d.accept('6', Method::InBand, 1250), "same method trusted");
    }
}
