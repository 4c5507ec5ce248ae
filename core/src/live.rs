//! Live audio fragments: a message's audio while it is still being spoken, published on
//! `hark.live` under `live.<message id>` by whoever records it (the IVR), for whoever streams
//! it to a listener (the notifier and portal).
//!
//! `hark.live` is transient: a fragment is never the only copy of anything. The recording is
//! kept whole by its recorder and stored when it ends, so a listener who joins late or loses
//! fragments reads the stored part and then follows the live ones by `seq`.
//!
//! Wire format (little-endian), small enough to cost nothing next to the audio:
//! `b"HL"`, version `1`, end `u8` (0 audio, 1 complete, 2 cancelled), rate `u16`, `seq u32`,
//! `offset_ms u32`, then mono PCM16 samples.

use crate::ids::MessageId;

const MAGIC: &[u8; 2] = b"HL";
const VERSION: u8 = 1;
const HEADER: usize = 14;

/// The routing key of one message's fragments.
pub fn routing_key(message: &MessageId) -> String {
    format!("live.{message}")
}

/// How a stream of fragments ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The recording finished; the stored message is complete.
    Complete,
    /// The sender withdrew it: stop playing and drop what was heard.
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// 0, 1, 2, … in order, so a listener sees a gap or a repeat.
    pub seq: u32,
    /// Where the first sample sits in the message.
    pub offset_ms: u32,
    pub rate: u16,
    pub pcm: Vec<i16>,
    /// Set on the last fragment, which may carry audio too.
    pub end: Option<End>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("not a live fragment (bad header)")]
    Header,
    #[error("unknown live fragment version {0}")]
    Version(u8),
    #[error("odd number of audio bytes")]
    Truncated,
}

impl Fragment {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.pcm.len() * 2);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(match self.end {
            None => 0,
            Some(End::Complete) => 1,
            Some(End::Cancelled) => 2,
        });
        out.extend_from_slice(&self.rate.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.offset_ms.to_le_bytes());
        for s in &self.pcm {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, FragmentError> {
        if bytes.len() < HEADER || &bytes[..2] != MAGIC {
            return Err(FragmentError::Header);
        }
        if bytes[2] != VERSION {
            return Err(FragmentError::Version(bytes[2]));
        }
        let end = match bytes[3] {
            0 => None,
            1 => Some(End::Complete),
            2 => Some(End::Cancelled),
            _ => return Err(FragmentError::Header),
        };
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let body = &bytes[HEADER..];
        if !body.len().is_multiple_of(2) {
            return Err(FragmentError::Truncated);
        }
        Ok(Fragment {
            rate: u16::from_le_bytes([bytes[4], bytes[5]]),
            seq: u32_at(6),
            offset_ms: u32_at(10),
            pcm: body
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect(),
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let f = Fragment {
            seq: 7,
            offset_ms: 700,
            rate: 8000,
            pcm: vec![0, -1, i16::MAX, i16::MIN],
            end: Some(End::Complete),
        };
        assert_eq!(Fragment::decode(&f.encode()).unwrap(), f);
        assert_eq!(Fragment::decode(b"HL"), Err(FragmentError::Header));
        assert_eq!(
            Fragment::decode(b"XX\x01\x00000000000000"),
            Err(FragmentError::Header)
        );
        let mut odd = f.encode();
        odd.push(1);
        assert_eq!(Fragment::decode(&odd), Err(FragmentError::Truncated));
        let mut v2 = f.encode();
        v2[2] = 2;
        assert_eq!(Fragment::decode(&v2), Err(FragmentError::Version(2)));
    }
}
