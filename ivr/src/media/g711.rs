//! G.711 µ-law and A-law, sample by sample (ezk-g711 does the per-sample work); the codec
//! that uses them is [`super::codec::Codec`].

pub fn encode_mulaw(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().map(|&s| ezk_g711::mulaw::encode(s)).collect()
}

pub fn decode_mulaw(payload: &[u8]) -> Vec<i16> {
    payload
        .iter()
        .map(|&b| ezk_g711::mulaw::decode(b))
        .collect()
}

pub fn encode_alaw(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().map(|&s| ezk_g711::alaw::encode(s)).collect()
}

pub fn decode_alaw(payload: &[u8]) -> Vec<i16> {
    payload.iter().map(|&b| ezk_g711::alaw::decode(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_encodes_to_the_standard_idle_codes() {
        assert_eq!(encode_mulaw(&[0]), [0xFF]);
        assert_eq!(encode_alaw(&[0]), [0xD5]);
    }

    #[test]
    fn round_trip_keeps_a_tone_within_companding_error() {
        let tone: Vec<i16> = (0..800)
            .map(|i| ((i as f32 * 0.2).sin() * 12_000.0) as i16)
            .collect();
        for (law, back) in [
            ("mu", decode_mulaw(&encode_mulaw(&tone))),
            ("a", decode_alaw(&encode_alaw(&tone))),
        ] {
            assert_eq!(back.len(), tone.len());
            for (a, b) in tone.iter().zip(&back) {
                // Companding keeps roughly 12 bits: the error grows with the amplitude.
                let allowed = (i32::from(*a).abs() / 16).max(40);
                assert!(
                    (i32::from(*a) - i32::from(*b)).abs() <= allowed,
                    "{law}-law {a} -> {b}"
                );
            }
        }
    }
}
