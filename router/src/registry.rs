//! The plugins this router asks, in priority order (lower first), as compiled components.
//!
//! Loaded from the store at start and again on every `plugin.changed`. Each (bytes, config)
//! pair is compiled and validated once and cached by its SHA-256, so a reload after an
//! unrelated change recompiles nothing, and the set is swapped in one step: a call in flight
//! finishes on the version it started with. A stored plugin that no longer loads (an engine
//! upgrade, say) is skipped, its error recorded for admins, and the rest keep working.

use crate::plugins::{LoadedPlugin, PluginHost};
use hark_core::store::{Store, StoreError, plugins};
use prometheus_client::metrics::{family::Family, gauge::Gauge};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

#[derive(Debug)]
pub struct Registry {
    host: Arc<PluginHost>,
    active: RwLock<Arc<Vec<Arc<LoadedPlugin>>>>,
    cache: Mutex<HashMap<(String, String), Arc<LoadedPlugin>>>,
    /// `hark_router_plugin_active{name,version,sha256}`: 1 for each plugin this router asks.
    shown: Family<Vec<(&'static str, String)>, Gauge>,
}

impl Registry {
    /// A registry whose active set is shown in the process's metrics.
    pub fn new(host: Arc<PluginHost>, metrics: &hark_core::metrics::Metrics) -> Self {
        let shown = Family::<Vec<(&'static str, String)>, Gauge>::default();
        metrics.register(|r| {
            r.register(
                "hark_router_plugin_active",
                "Delivery plugins this router asks (1 each), by name, version and content hash",
                shown.clone(),
            );
        });
        Self {
            host,
            active: RwLock::new(Arc::new(Vec::new())),
            cache: Mutex::new(HashMap::new()),
            shown,
        }
    }

    pub fn host(&self) -> &Arc<PluginHost> {
        &self.host
    }

    /// The plugins to ask, in order.
    pub fn active(&self) -> Arc<Vec<Arc<LoadedPlugin>>> {
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Add the calls and failures counted since the last flush to the stored totals, and
    /// store the log lines plugins wrote.
    pub async fn flush_stats(&self, store: &Store) -> Result<(), StoreError> {
        let lines = self.host.logs().take();
        if !lines.is_empty() {
            store.run(move |c| plugins::add_logs(c, &lines)).await?;
        }
        let deltas: Vec<(String, i64, i64, i64)> = self
            .active()
            .iter()
            .map(|p| {
                let (calls, failures, nanos) = p.stats.take_unflushed();
                let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                (p.info.name.clone(), n(calls), n(failures), n(nanos / 1000))
            })
            .filter(|(_, calls, _, _)| *calls > 0)
            .collect();
        if deltas.is_empty() {
            return Ok(());
        }
        store
            .run(move |c| {
                for (name, calls, failures, micros) in &deltas {
                    plugins::add_stats(c, name, *calls, *failures, *micros)?;
                }
                Ok(())
            })
            .await
    }

    /// Re-read the enabled plugins and swap them in. Returns how many are active.
    pub async fn reload(&self, store: &Store) -> Result<usize, StoreError> {
        let rows = store.run(plugins::list_enabled).await?;
        let mut next = Vec::with_capacity(rows.len());
        let mut keep = HashMap::new();
        for row in rows {
            let key = (row.sha256.clone(), row.config.clone());
            let cached = self
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .cloned();
            let loaded = match cached {
                Some(p) => Ok(p),
                None => {
                    let host = self.host.clone();
                    let (wasm, config) = (row.wasm, row.config);
                    tokio::task::spawn_blocking(move || host.load(&wasm, &config).map(Arc::new))
                        .await
                        .map_err(|e| StoreError::Task(e.to_string()))?
                }
            };
            let name = row.name.clone();
            let error = match loaded {
                Ok(p) => {
                    keep.insert(key, p.clone());
                    next.push(p);
                    None
                }
                Err(e) => {
                    tracing::error!(plugin = %name, error = %e, "stored plugin does not load; skipped");
                    Some(e.to_string())
                }
            };
            if row.last_error != error {
                store
                    .run(move |c| plugins::set_last_error(c, &name, error.as_deref()))
                    .await?;
            }
        }
        let n = next.len();
        self.shown.clear();
        for p in &next {
            self.shown
                .get_or_create(&vec![
                    ("name", p.info.name.clone()),
                    ("version", p.info.version.clone()),
                    ("sha256", p.sha256.clone()),
                ])
                .set(1);
        }
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = keep;
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        tracing::info!(active = n, "delivery plugins loaded");
        Ok(n)
    }
}
