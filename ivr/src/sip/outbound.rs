//! Placing calls (callbacks): arrives with outbound calling.
