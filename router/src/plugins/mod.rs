//! Wasm delivery plugins: load, validate and call them, safely.
//!
//! A plugin is a WebAssembly component for the `delivery-plugin` world in `plugins/wit-1.1/`
//! (`hark:delivery@1.1.0`) or, built before it, `plugins/wit/` (`@1.0.0`); the host runs both.
//! [`PluginHost`] narrows wasmtime to what plugins need, in the manner of spin's core crate:
//! the component model, a pooling allocator, epoch interruption (a wall-time deadline per
//! call), fuel (a work budget per call), a memory limit, and a linker holding only the host's
//! `log` and WASI with no capabilities (no preopened folders, no environment, no network, and
//! clocks frozen at zero: the host passes `now` in the request).
//!
//! - [`load`]: bytes → a validated, compiled [`LoadedPlugin`] (size, component, imports,
//!   exports, `info`, `validate-config`, a dry run), or a reason it was refused.
//! - [`call`]: one `plan` call in a fresh store, off the async runtime's worker threads, with
//!   its result checked against the request; a trap, a timeout or an invalid plan is an error
//!   the router counts, never a crash.
//! - [`breaker`]: per-plugin statistics and a circuit breaker that benches a plugin after
//!   repeated failures.

pub mod breaker;
pub mod call;
pub mod load;
mod sandbox;

pub use call::{PlanInput, PlannedAttempt, Verdict, check_plan};
pub use load::LoadedPlugin;
pub use sandbox::PluginHost;

/// Generated from `plugins/wit/` (`hark:delivery@1.0.0`); kept in its own module because the
/// world re-exports WIT type names (such as `plugin-error`) that the host also uses for its
/// own types.
mod bindings {
    wasmtime::component::bindgen!({
        world: "delivery-plugin",
        path: "../plugins/wit",
    });
}

/// Generated from `plugins/wit-1.1/` (`hark:delivery@1.1.0`: the recipient's record says
/// whether a phone of theirs is registered). A component is loaded as 1.1 when its exports
/// have 1.1's types, else as 1.0, so plugins built before 1.1 run unchanged.
mod bindings_1_1 {
    wasmtime::component::bindgen!({
        world: "delivery-plugin",
        path: "../plugins/wit-1.1",
    });
}

/// Limits applied to every plugin call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall time one call may take.
    pub deadline: std::time::Duration,
    /// Wasm work one call may do.
    pub fuel: u64,
    /// Linear memory one instance may use, in bytes.
    pub memory_bytes: usize,
    /// Largest accepted `.wasm` file, in bytes.
    pub max_module_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: std::time::Duration::from_millis(50),
            fuel: 10_000_000,
            memory_bytes: 16 << 20,
            max_module_bytes: 8 << 20,
        }
    }
}

impl From<&hark_core::config::RouterConfig> for Limits {
    fn from(c: &hark_core::config::RouterConfig) -> Self {
        let mib = |m: u32| usize::try_from(m).unwrap_or(usize::MAX / (1 << 20)) << 20;
        Self {
            deadline: std::time::Duration::from_millis(u64::from(c.plugin_deadline_ms)),
            fuel: c.plugin_fuel,
            memory_bytes: mib(c.plugin_memory_mib),
            max_module_bytes: mib(c.plugin_max_module_mib),
        }
    }
}

/// Why a plugin was refused or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("the module is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    /// `what` says in words what the file is instead; `detail` is the parser's own message.
    #[error("{what}\n{detail}")]
    NotAComponent { what: String, detail: String },
    #[error("imports {0}, which plugins may not use")]
    ForbiddenImport(String),
    #[error("does not implement the hark:delivery/delivery-plugin world (1.0 or 1.1): {0}")]
    WrongWorld(String),
    #[error("rejected its configuration: {0}")]
    InvalidConfig(String),
    #[error("ran past its {0:?} deadline")]
    Timeout(std::time::Duration),
    #[error("ran out of fuel")]
    OutOfFuel,
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned an error: {0}")]
    Returned(String),
    #[error("returned an invalid plan: {0}")]
    InvalidPlan(String),
    #[error("is benched after repeated failures")]
    Benched,
    #[error("host error: {0}")]
    Host(String),
}
