//! The `hark` binary's library half: building the shared dependencies from configuration,
//! running services, and the admin commands, so `main.rs` stays a thin CLI and integration
//! tests use the very same wiring in-process.

pub mod app;
pub mod demo;
pub mod ops;
pub mod plugin_cmd;
