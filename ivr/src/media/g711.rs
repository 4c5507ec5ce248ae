//! G.711 µ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8).

/// The two G.711 laws, by their static RTP payload types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// SDP `rtpmap` encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    pub fn encode(self, pcm: &[i16]) -> Vec<u8> {
        match self {
            Codec::Pcmu => pcm.iter().map(|&s| ezk_g711::mulaw::encode(s)).collect(),
            Codec::Pcma => pcm.iter().map(|&s| ezk_g711::alaw::encode(s)).collect(),
        }
    }

    pub fn decode(self, payload: &[u8]) -> Vec<i16> {
        match self {
            Codec::Pcmu => payload
                .iter()
                .map(|&b| ezk_g711::mulaw::decode(b))
                .collect(),
            Codec::Pcma => payload.iter().map(|&b| ezk_g711::alaw::decode(b)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_encodes_to_the_standard_idle_codes() {
        assert_eq!(Codec::Pcmu.encode(&[0]), [0xFF]);
        assert_eq!(Codec::Pcma.encode(&[0]), [0xD5]);
    }

    #[test]
    fn round_trip_keeps_a_tone_within_companding_error() {
        let tone: Vec<i16> = (0..800)
            .map(|i| ((i as f32 * 0.2).sin() * 12_000.0) as i16)
            .collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let back = codec.decode(&codec.encode(&tone));
            assert_eq!(back.len(), tone.len());
            for (a, b) in tone.iter().zip(&back) {
                // Companding keeps roughly 12 bits: the error grows with the amplitude.
                let allowed = (i32::from(*a).abs() / 16).max(40);
                assert!(
                    (i32::from(*a) - i32::from(*b)).abs() <= allowed,
                    "{codec:?} {a} -> {b}"
                );
            }
        }
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(9), None);
    }
}
