//! The connection and its supervisor: connect, declare everything again, hand it out.

use super::{
    RECOVERY_WAIT,
    consumers::spawn_consumer,
    topology::{Bindings, Restored, Topology, bind_on},
};
use crate::bus::{BusError, Exchange};
use lapin::{
    Channel, Connection, ConnectionProperties, options::ConfirmSelectOptions, types::FieldTable,
};
use std::{
    sync::{Arc, Mutex as StdMutex},
    time::Duration,
};
use tokio::sync::{Mutex, watch};

/// How often the supervisor looks at the connection.
const WATCH: Duration = Duration::from_millis(200);
/// Back-off between reconnection attempts.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(2);

pub(super) fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One connection to the broker and its publishing channel.
pub(super) struct Live {
    pub(super) connection: Connection,
    /// Confirm-mode channel for publishing and declaring; the mutex keeps confirms in order.
    pub(super) channel: Mutex<Channel>,
    /// Counts connections made, so consumers know which one they run on.
    pub(super) generation: u64,
    /// What was declared on it (see [`Restored`]); the supervisor catches up from here.
    pub(super) restored: StdMutex<Option<(Bindings, u64)>>,
}

pub(super) struct Inner {
    pub(super) url: String,
    pub(super) namespace: String,
    pub(super) delivery_limit: u32,
    pub(super) live: watch::Sender<Option<Arc<Live>>>,
    pub(super) topology: StdMutex<Topology>,
    /// Wakes the supervisor early (a publish saw the connection fail).
    pub(super) broken: tokio::sync::Notify,
}

impl Inner {
    pub(super) fn name(&self, base: &str) -> String {
        format!("{}{}", self.namespace, base)
    }

    pub(super) fn exchange_name(&self, exchange: Exchange) -> String {
        self.name(exchange.base_name())
    }

    pub(super) fn dlx_name(&self) -> String {
        self.name("hark.dlx")
    }

    /// The connection, if it is up now.
    pub(super) fn current(&self) -> Option<Arc<Live>> {
        self.live
            .borrow()
            .clone()
            .filter(|l| l.connection.status().connected())
    }

    /// The connection, waiting (bounded) for it to come back.
    pub(super) async fn connected(&self) -> Result<Arc<Live>, BusError> {
        if let Some(l) = self.current() {
            return Ok(l);
        }
        self.broken.notify_one();
        let mut rx = self.live.subscribe();
        let wait = async {
            loop {
                if let Some(l) = rx
                    .borrow_and_update()
                    .clone()
                    .filter(|l| l.connection.status().connected())
                {
                    return l;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(RECOVERY_WAIT, wait)
            .await
            .map_err(|_| BusError::Connection("the broker is unreachable".into()))
    }

    /// Open a connection and declare everything on it.
    pub(super) async fn open(&self, generation: u64) -> Result<Live, BusError> {
        let props = ConnectionProperties::default().with_connection_name("hark".into());
        let connection = Connection::connect(&self.url, props).await?;
        match self.restore(&connection).await {
            Ok(r) => Ok(Live {
                connection,
                channel: Mutex::new(r.channel),
                generation,
                restored: StdMutex::new(Some((r.bindings, r.version))),
            }),
            Err(e) => {
                // Close it, or the broker keeps it and the private queues declared on it.
                let _ = connection.close(200, "set-up failed".into()).await;
                Err(e)
            }
        }
    }

    /// Declare everything on a new connection; its publishing channel.
    pub(super) async fn restore(&self, connection: &Connection) -> Result<Restored, BusError> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.declare_exchanges(&channel).await?;
        let (queues, bindings, version) = {
            let mut t = lock(&self.topology);
            t.prune();
            (t.queues.clone(), t.bindings.clone(), t.version)
        };
        for spec in &queues {
            self.declare_on(&channel, spec).await?;
        }
        for (queue, exchange, key) in &bindings {
            bind_on(&channel, queue, exchange, key).await?;
        }
        Ok(Restored {
            channel,
            bindings,
            version,
        })
    }

    /// Bring a new connection up to date with changes made while it was being restored
    /// (a person's tab opened, a binding went), then hand it out — under the topology lock,
    /// so every later change sees it and makes itself.
    pub(super) async fn hand_out(self: &Arc<Self>, live: Arc<Live>) -> Result<(), BusError> {
        let (mut applied, mut version) = lock(&live.restored).take().unwrap_or_default();
        loop {
            let (now, queues, bindings) = {
                let t = lock(&self.topology);
                if t.version == version {
                    // Consumers first (those registered meanwhile too), then the connection.
                    for entry in &t.consumers {
                        if !entry.tx.is_closed() {
                            spawn_consumer(self.clone(), live.clone(), entry.clone());
                        }
                    }
                    self.live.send_replace(Some(live.clone()));
                    return Ok(());
                }
                (t.version, t.queues.clone(), t.bindings.clone())
            };
            let ch = live.channel.lock().await;
            for spec in &queues {
                self.declare_on(&ch, spec).await?;
            }
            for b in bindings.difference(&applied) {
                bind_on(&ch, &b.0, &b.1, &b.2).await?;
            }
            for b in applied.difference(&bindings) {
                ch.queue_unbind(
                    b.0.clone().into(),
                    b.1.clone().into(),
                    b.2.clone().into(),
                    FieldTable::default(),
                )
                .await?;
            }
            drop(ch);
            (applied, version) = (bindings, now);
        }
    }

    /// Watch the connection; when it is lost, make a new one and restore everything on it.
    pub(super) async fn supervise(self: Arc<Self>) {
        let mut generation = self.live.borrow().as_ref().map_or(0, |l| l.generation);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(WATCH) => {}
                _ = self.broken.notified() => {}
            }
            if self.current().is_some() {
                continue;
            }
            tracing::warn!("bus connection lost; reconnecting");
            let mut pause = RETRY_MIN;
            loop {
                generation += 1;
                let opened = match self.open(generation).await {
                    Ok(live) => {
                        let live = Arc::new(live);
                        match self.hand_out(live.clone()).await {
                            Ok(()) => Ok(()),
                            Err(e) => {
                                let _ = live.connection.close(200, "set-up failed".into()).await;
                                Err(e)
                            }
                        }
                    }
                    Err(e) => Err(e),
                };
                match opened {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, retry_in_ms = pause.as_millis(), "broker not reachable yet");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(RETRY_MAX);
                    }
                }
            }
            tracing::info!(generation, "bus connection recovered");
        }
    }
}
