//! One connection to the broker: open it, declare everything on it, wait for it when it is
//! down. The supervisor that replaces a lost one is in [`super`].

use super::{
    RECOVERY_WAIT,
    topology::{Bindings, Names, Restored, Topology, bind_on},
};
use crate::bus::BusError;
use lapin::{Channel, Connection, ConnectionProperties, options::ConfirmSelectOptions};
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{Mutex, watch};

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
    pub(super) names: Names,
    pub(super) live: watch::Sender<Option<Arc<Live>>>,
    pub(super) topology: StdMutex<Topology>,
    /// Wakes the supervisor early (a publish saw the connection fail).
    pub(super) broken: tokio::sync::Notify,
}

impl Inner {
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
        self.names.declare_exchanges(&channel).await?;
        let (queues, bindings, version) = {
            let mut t = lock(&self.topology);
            t.prune();
            (t.queues.clone(), t.bindings.clone(), t.version)
        };
        for spec in &queues {
            self.names.declare_on(&channel, spec).await?;
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
}
