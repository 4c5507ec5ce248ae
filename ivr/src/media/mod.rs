//! The IVR's media layer, below SIP. All but [`session`] are pure — packets and samples in,
//! packets and samples out, no sockets or timers — so each piece is tested on its own;
//! `session` puts them on a UDP socket for one call.
//!
//! - [`codec`]: the codecs (PCMU, PCMA), each with its own RTP clock, sample rate and frame.
//! - [`g711`]: the two G.711 laws, sample by sample (ezk-g711).
//! - [`rtp`]: parsing and building RTP packets (rtp-types).
//! - [`jitter`]: reordering, duplicate and loss handling for received packets.
//! - [`session`]: one call's RTP socket: symmetric RTP, paced sending, receive into frames and
//!   digits.
//! - [`dtmf`]: key presses from RFC 4733 events, SIP INFO bodies and in-band tones (Goertzel),
//!   debounced so one press is one digit whichever way it arrived.

pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod rtp;
pub mod session;

/// Milliseconds of audio in one RTP packet, and in one frame of the line.
pub const PTIME_MS: u32 = 20;
/// The rate the IVR works at inside, whatever the codec: the line's frames, prompts,
/// recordings and in-band key detection. The RTP session hands the line 20 ms frames at this
/// rate; a codec with another sample rate is converted at that edge (each codec states its
/// own rates: [`codec::Codec`]).
pub const LINE_RATE: u32 = 8_000;
/// Samples in one 20 ms frame at the line rate.
pub const LINE_FRAME: usize = (LINE_RATE * PTIME_MS / 1000) as usize;
