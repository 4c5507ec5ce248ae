//! The `hark` binary's library half: building the shared dependencies from configuration and
//! running services, so `main.rs` stays a thin CLI and integration tests start the very same
//! wiring in-process.

pub mod app;
pub mod demo;
