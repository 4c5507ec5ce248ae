//! Paths of the plugins in `plugins/`, compiled for wasm32-wasip2 by this crate's build script.
//! A dev-dependency of the router, so tests load real components.

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// Read a plugin's bytes.
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}
