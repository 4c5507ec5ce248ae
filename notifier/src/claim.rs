//! One sender at a time per e-mail, across notifier processes.
//!
//! A command can reach two notifiers at once: a broker connection that drops hands the first
//! one's unacknowledged delivery to the second while the first is still talking to the relay,
//! and an outbox row whose publish was confirmed but not yet deleted can be published again.
//! Before handing an e-mail to the relay a worker takes a lease on its attempt
//! (`store::claims`), renews it while it works and releases it when done; another worker with
//! the same e-mail waits until it is free, then finds it handled. A worker that dies stops
//! renewing, so the e-mail is taken over within [`LEASE`].

use hark_core::{Deps, bus::consume::HandleError, store};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a lease lasts without renewal, and how often the holder renews it.
const LEASE: Duration = Duration::from_secs(15);
const RENEW: Duration = Duration::from_secs(5);
/// How often a worker waiting for someone else's lease looks again.
const WAIT: Duration = Duration::from_millis(500);

/// A held lease; renewed until dropped, then released.
#[derive(Debug)]
pub(crate) struct Claim {
    stop: CancellationToken,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn until() -> chrono::NaiveDateTime {
    store::now() + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX)
}

/// Take the lease on `work`, waiting while another process holds it. `None` when `done`
/// says, meanwhile, that the work was finished by whoever held it.
pub(crate) async fn take<F, Fut>(
    deps: &Deps,
    work: String,
    shutdown: &CancellationToken,
    done: F,
) -> Result<Option<Claim>, HandleError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, HandleError>>,
{
    let mut waited = false;
    loop {
        let (w, node) = (work.clone(), deps.node_id.clone());
        let taken = deps
            .store
            .run(move |c| store::claims::take(c, &w, &node, until()))
            .await?;
        if taken {
            return Ok(Some(hold(deps, work)));
        }
        if !waited {
            tracing::info!(%work, "another notifier is sending this; waiting for it");
            waited = true;
        }
        if done().await? {
            return Ok(None);
        }
        tokio::select! {
            _ = tokio::time::sleep(WAIT) => {}
            _ = shutdown.cancelled() => return Err(HandleError::Retry("shutting down".into())),
        }
    }
}

/// Renew the lease until the claim is dropped, then release it.
fn hold(deps: &Deps, work: String) -> Claim {
    let stop = CancellationToken::new();
    let (store, node, stopped) = (deps.store.clone(), deps.node_id.clone(), stop.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RENEW) => {}
                _ = stopped.cancelled() => break,
            }
            let (w, n) = (work.clone(), node.clone());
            match store
                .run(move |c| store::claims::take(c, &w, &n, until()))
                .await
            {
                Ok(true) => {}
                Ok(false) => tracing::warn!(%work, "lease lost to another notifier"),
                Err(e) => tracing::debug!(error = %e, %work, "lease not renewed"),
            }
        }
        let (w, n) = (work.clone(), node);
        if let Err(e) = store.run(move |c| store::claims::release(c, &w, &n)).await {
            tracing::debug!(error = %e, %work, "lease not released; it will expire");
        }
    });
    Claim { stop }
}
