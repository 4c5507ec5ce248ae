//! `hark plugin …`: install, list, enable and disable delivery plugins.
//!
//! `add` validates the file in a real plugin host (size, imports, exports, info, config, dry
//! run) before anything is stored; a refused file never replaces the installed version. Every
//! change is stored together with a `plugin.changed` event in one transaction; any running
//! process's outbox relay publishes it and every router reloads.

use anyhow::{Context, Result, bail};
use hark_core::{
    config::Config,
    store::{Store, plugins},
};
use hark_router::plugins::{Limits, PluginHost};
use std::{io::Write, path::Path};

/// Validate and install (or replace) a plugin; returns its name.
pub async fn add(
    store: &Store,
    config: &Config,
    file: &Path,
    plugin_config: String,
    priority: i32,
    enabled: bool,
) -> Result<String> {
    let wasm = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let limits = Limits::from(&config.router);
    let (wasm, loaded) = tokio::task::spawn_blocking(move || {
        let host = PluginHost::new(limits)?;
        let loaded = host.load(&wasm, &plugin_config)?;
        Ok::<_, hark_router::plugins::PluginError>((wasm, loaded))
    })
    .await?
    .with_context(|| format!("{} was refused", file.display()))?;
    let form = loaded.upsert_form(wasm, priority, enabled);
    let name = form.name.clone();
    store
        .transaction(move |c| plugins::install(c, &form).map(|_| ()))
        .await?;
    Ok(name)
}

pub async fn set_enabled(store: &Store, name: String, enabled: bool) -> Result<()> {
    let found = store
        .transaction(move |c| {
            let found = plugins::set_enabled(c, &name, enabled)?;
            if found {
                plugins::announce(c, &name)?;
            }
            Ok(found)
        })
        .await?;
    if !found {
        bail!("no plugin of that name (see `hark plugin list`)");
    }
    Ok(())
}

pub async fn list(store: &Store) -> Result<()> {
    let rows = store.run(plugins::list).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<20} {:<10} {:>8} {:<8} {:>8} {:>8} {:>9}  SHA-256 / LAST ERROR",
        "NAME", "VERSION", "PRIORITY", "ENABLED", "CALLS", "ERRORS", "MEAN µs"
    )?;
    for p in rows {
        let mean = if p.calls > 0 {
            format!("{:.1}", p.total_micros as f64 / p.calls as f64)
        } else {
            "-".into()
        };
        writeln!(
            out,
            "{:<20} {:<10} {:>8} {:<8} {:>8} {:>8} {:>9}  {}",
            p.name,
            p.version,
            p.priority,
            if p.enabled { "yes" } else { "no" },
            p.calls,
            p.failures,
            mean,
            p.last_error.unwrap_or_else(|| p.sha256[..16].to_owned())
        )?;
    }
    Ok(())
}
