//! The engine, the per-call store and the linker: everything that bounds what a plugin can
//! reach and spend.

use super::{Limits, PluginError, bindings::hark::delivery};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
    component::{HasSelf, Linker, ResourceTable},
};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// How often the epoch advances; deadlines are whole ticks.
pub(super) const TICK: Duration = Duration::from_millis(2);
/// Plugin instances alive at once (one per concurrent call).
const POOL_INSTANCES: u32 = 64;
/// Bytes of a freed slot's memory kept mapped and zeroed in place (see `PluginHost::new`).
const KEEP_RESIDENT: usize = 2 << 20;

/// What one call's store holds.
pub(crate) struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: StoreLimits,
    pub(super) plugin: String,
    logged: usize,
    sink: Arc<LogSink>,
}

/// Lines plugins logged (and the host logged about them) that are not stored yet; bounded,
/// so a plugin logging faster than the router flushes loses lines, never memory.
#[derive(Debug, Default)]
pub struct LogSink {
    lines: std::sync::Mutex<Vec<hark_core::store::plugins::LogLine>>,
}

/// Unstored lines kept at most.
const SINK_LINES: usize = 500;

impl LogSink {
    pub fn push(&self, plugin: &str, level: &str, message: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() < SINK_LINES {
            lines.push(hark_core::store::plugins::LogLine {
                plugin: plugin.to_owned(),
                at: hark_core::store::now(),
                level: level.to_owned(),
                message,
            });
        }
    }

    /// Everything not stored yet.
    pub fn take(&self) -> Vec<hark_core::store::plugins::LogLine> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// At most this many log lines per call, each cut to this length: a plugin cannot flood logs.
const MAX_LOG_LINES: usize = 20;
const MAX_LOG_LEN: usize = 500;

impl delivery::log::Host for GuestState {
    fn log(&mut self, level: delivery::log::Level, message: String) {
        if self.logged >= MAX_LOG_LINES {
            return;
        }
        self.logged += 1;
        let message: String = message.chars().take(MAX_LOG_LEN).collect();
        let plugin = self.plugin.as_str();
        use delivery::log::Level;
        let name = match level {
            Level::Debug => {
                tracing::debug!(plugin, "{message}");
                "debug"
            }
            Level::Info => {
                tracing::info!(plugin, "{message}");
                "info"
            }
            Level::Warn => {
                tracing::warn!(plugin, "{message}");
                "warn"
            }
            Level::Error => {
                tracing::error!(plugin, "{message}");
                "error"
            }
        };
        self.sink.push(plugin, name, message);
    }
}

impl delivery::types::Host for GuestState {}

impl super::bindings_1_1::hark::delivery::log::Host for GuestState {
    fn log(&mut self, level: super::bindings_1_1::hark::delivery::log::Level, message: String) {
        use super::bindings_1_1::hark::delivery::log::Level as L11;
        use delivery::log::Level;
        let level = match level {
            L11::Debug => Level::Debug,
            L11::Info => Level::Info,
            L11::Warn => Level::Warn,
            L11::Error => Level::Error,
        };
        delivery::log::Host::log(self, level, message);
    }
}

impl super::bindings_1_1::hark::delivery::types::Host for GuestState {}

/// Clocks that always read zero: plugins get time only from the request.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The shared, narrowed wasmtime: one engine and linker for every plugin.
pub struct PluginHost {
    pub(super) engine: Engine,
    pub(super) linker: Linker<GuestState>,
    pub(super) limits: Limits,
    ticker_stop: Arc<AtomicBool>,
    logs: Arc<LogSink>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    pub fn new(limits: Limits) -> Result<Self, PluginError> {
        let host = |e: anyhow::Error| PluginError::Host(format!("{e:#}"));
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 8)
            .total_memories(POOL_INSTANCES * 4)
            .total_tables(POOL_INSTANCES * 4)
            .max_memory_size(limits.memory_bytes)
            // Reset a slot by zeroing what a typical plugin touched instead of returning the
            // pages to the kernel: the next instantiation then takes no page faults.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(true)
            .max_wasm_stack(1 << 20)
            // Reserve only what a plugin may use, so the pool stays small in address space.
            .memory_reservation(
                (limits.memory_bytes as u64)
                    .next_power_of_two()
                    .max(1 << 24),
            )
            .memory_guard_size(1 << 16)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(host)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(host)?;
        super::bindings::DeliveryPlugin::add_to_linker::<GuestState, HasSelf<GuestState>>(
            &mut linker,
            |s| s,
        )
        .map_err(host)?;
        super::bindings_1_1::DeliveryPlugin::add_to_linker::<GuestState, HasSelf<GuestState>>(
            &mut linker,
            |s| s,
        )
        .map_err(host)?;

        // Advance the epoch on a plain thread; stores trap when their deadline passes.
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (stop, weak) = (ticker_stop.clone(), engine.weak());
        std::thread::Builder::new()
            .name("hark-plugin-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| PluginError::Host(e.to_string()))?;
        Ok(Self {
            engine,
            linker,
            limits,
            ticker_stop,
            logs: Arc::default(),
        })
    }

    /// Log lines waiting to be stored for admins.
    pub fn logs(&self) -> &Arc<LogSink> {
        &self.logs
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A fresh store for one call, with its deadline, fuel and memory limit set.
    pub(super) fn store(&self, plugin: &str) -> Result<Store<GuestState>, PluginError> {
        let wasi = WasiCtxBuilder::new()
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .build();
        let state = GuestState {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            plugin: plugin.to_owned(),
            logged: 0,
            sink: self.logs.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        let ticks = self
            .limits
            .deadline
            .as_millis()
            .div_ceil(TICK.as_millis())
            .max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
        Ok(store)
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
