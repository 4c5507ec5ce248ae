//! The phone side's codecs: what each is called in SDP and RTP, the clock its RTP timestamps
//! run at, the rate of the audio it carries, and how much of it one packet holds.
//!
//! A codec knows its own rates, so nothing else in the IVR assumes one: the RTP session sizes
//! packets and timestamps from it, and hands the line audio at the line's rate
//! ([`super::LINE_RATE`]). Adding a codec: a variant here (the compiler points at each `match`),
//! its encoder and decoder beside [`super::g711`], and its `rtpmap` in `crate::sip::sdp`.

use super::{PTIME_MS, g711};

/// An audio codec the IVR speaks on RTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law (payload type 0).
    Pcmu,
    /// G.711 A-law (payload type 8).
    Pcma,
}

impl Codec {
    /// The codecs the IVR offers, in its order of preference.
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// Its static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.payload_type() == pt)
    }

    /// SDP `rtpmap` encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The clock of its RTP timestamps, as SDP's `rtpmap` states it.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8_000,
        }
    }

    /// The sample rate of the audio it encodes and decodes.
    pub fn sample_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8_000,
        }
    }

    /// Samples in one packet's audio (20 ms at its sample rate).
    pub fn frame(self) -> usize {
        (self.sample_rate() * PTIME_MS / 1000) as usize
    }

    /// RTP timestamp units one packet spans.
    pub fn timestamp_step(self) -> u32 {
        self.clock_rate() * PTIME_MS / 1000
    }

    /// RTP timestamp units in `ms` milliseconds.
    pub fn ticks(self, ms: u32) -> u32 {
        self.clock_rate() / 1000 * ms
    }

    pub fn encode(self, pcm: &[i16]) -> Vec<u8> {
        match self {
            Codec::Pcmu => g711::encode_mulaw(pcm),
            Codec::Pcma => g711::encode_alaw(pcm),
        }
    }

    pub fn decode(self, payload: &[u8]) -> Vec<i16> {
        match self {
            Codec::Pcmu => g711::decode_mulaw(payload),
            Codec::Pcma => g711::decode_alaw(payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_is_20_ms_of_each_codec_s_own_rates() {
        for c in Codec::ALL {
            assert_eq!(c.frame() as u32 * 1000 / c.sample_rate(), PTIME_MS);
            assert_eq!(c.timestamp_step() * 1000 / c.clock_rate(), PTIME_MS);
            assert_eq!(Codec::from_payload_type(c.payload_type()), Some(c));
            assert_eq!(c.encode(&vec![0; c.frame()]).len(), c.frame());
        }
        assert_eq!(Codec::Pcma.frame(), 160);
        assert_eq!(Codec::Pcmu.ticks(100), 800);
        assert_eq!(Codec::from_payload_type(9), None);
        // The RTP session hands the line each codec's decoded frames as they are: a codec at
        // another rate than the line's needs the session to convert it first.
        for c in Codec::ALL {
            assert_eq!(c.sample_rate(), crate::media::LINE_RATE, "{c:?}");
        }
    }
}
