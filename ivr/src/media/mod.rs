//! The IVR's media layer, below SIP. All but [`session`] are pure — packets and samples in,
//! packets and samples out, no sockets or timers — so each piece is tested on its own;
//! `session` puts them on a UDP socket for one call.
//!
//! - [`g711`]: PCMU/PCMA at 8 kHz (ezk-g711 does the per-sample work).
//! - [`rtp`]: parsing and building RTP packets (rtp-types).
//! - [`jitter`]: reordering, duplicate and loss handling for received packets.
//! - [`session`]: one call's RTP socket: symmetric RTP, paced sending, receive into frames and
//!   digits.
//! - [`dtmf`]: key presses from RFC 4733 events, SIP INFO bodies and in-band tones (Goertzel),
//!   debounced so one press is one digit whichever way it arrived.

pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod rtp;
pub mod session;

/// The telephone band's sample rate.
pub const RATE: u32 = 8_000;
/// Samples in one 20 ms packet at 8 kHz.
pub const FRAME: usize = 160;
