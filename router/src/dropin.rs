//! The drop-in folder: admins copy `.wasm` files into `router.plugins_dir` and routers install
//! them; removing a file disables its plugin.
//!
//! The folder is polled (every `POLL`), which also works on network file systems where change
//! notification does not. A new or changed file is validated in this router's host exactly as
//! `hark plugin add` does, then stored with `plugin.changed`, so every router picks it up; a
//! file that fails validation is logged once per content and never replaces the running
//! version. An optional `NAME.config` beside `NAME.wasm` holds the plugin's configuration.
//! Several routers watching one shared folder make the same idempotent change.

use crate::registry::Registry;
use hark_core::{
    Deps,
    events::{Envelope, Event},
    store::{self, plugins},
};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tokio_util::sync::CancellationToken;

const POLL: Duration = Duration::from_secs(2);
/// Priority of plugins installed from the folder.
const DROP_IN_PRIORITY: i32 = 100;

/// What this router last saw of one file.
struct Seen {
    sha256: String,
    /// The plugin it installed, if it was valid.
    plugin: Option<String>,
}

pub(crate) async fn run(
    dir: PathBuf,
    deps: Deps,
    registry: Arc<Registry>,
    stop: CancellationToken,
) {
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        tracing::warn!(dir = %dir.display(), error = %e, "no plugin drop-in folder");
        return;
    }
    let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
    loop {
        scan(&dir, &deps, &registry, &mut seen).await;
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn scan(dir: &Path, deps: &Deps, registry: &Registry, seen: &mut HashMap<PathBuf, Seen>) {
    let mut present = Vec::new();
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "reading the plugin folder");
            return;
        }
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            present.push(path);
        }
    }
    for path in &present {
        let Ok(bytes) = tokio::fs::read(path).await else {
            continue; // Being written or removed; next pass.
        };
        let config = tokio::fs::read_to_string(path.with_extension("config"))
            .await
            .unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(&bytes);
        hasher.update(config.as_bytes());
        let sha256 = hex::encode(hasher.finalize());
        if seen.get(path).is_some_and(|s| s.sha256 == sha256) {
            continue;
        }
        let plugin = install(path, bytes, config, deps, registry).await;
        seen.insert(path.clone(), Seen { sha256, plugin });
    }
    let removed: Vec<PathBuf> = seen
        .keys()
        .filter(|p| !present.contains(p))
        .cloned()
        .collect();
    for path in removed {
        if let Some(Seen {
            plugin: Some(name), ..
        }) = seen.remove(&path)
        {
            tracing::info!(plugin = %name, file = %path.display(), "file removed; disabling");
            let result = deps
                .store
                .transaction(move |c| {
                    if plugins::set_enabled(c, &name, false)? {
                        store::outbox::enqueue_event(
                            c,
                            &Envelope::new(Event::PluginChanged { name }),
                        )?;
                    }
                    Ok(())
                })
                .await;
            match result {
                Ok(()) => deps.outbox.notify(),
                Err(e) => tracing::warn!(error = %e, "disabling a removed plugin"),
            }
        }
    }
}

/// Validate and store one file; the plugin's name when it was valid.
async fn install(
    path: &Path,
    bytes: Vec<u8>,
    config: String,
    deps: &Deps,
    registry: &Registry,
) -> Option<String> {
    let host = registry.host().clone();
    let checked = tokio::task::spawn_blocking(move || {
        let loaded = host.load(&bytes, &config)?;
        Ok::<_, crate::plugins::PluginError>((loaded, bytes))
    })
    .await;
    let (loaded, wasm) = match checked {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::error!(file = %path.display(), error = %e, "plugin refused; the running version stays");
            return None;
        }
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "plugin validation failed");
            return None;
        }
    };
    let form = loaded.upsert_form(wasm, DROP_IN_PRIORITY, true);
    let name = form.name.clone();
    let stored = deps
        .store
        .transaction(move |c| {
            // Keep an admin's priority for a plugin they already placed.
            let mut form = form;
            if let Some(old) = plugins::find_by_name(c, &form.name)? {
                form.priority = old.priority;
            }
            plugins::install(c, &form).map(|_| ())
        })
        .await;
    match stored {
        Ok(()) => {
            tracing::info!(plugin = %name, file = %path.display(), "plugin installed from the drop-in folder");
            deps.outbox.notify();
            Some(name)
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "storing a dropped-in plugin");
            None
        }
    }
}
