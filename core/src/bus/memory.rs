//! The in-process bus: the embedded default and the reference for the contract.
//!
//! Exchanges route to queues by binding (topic patterns on topic exchanges, exact keys on the
//! direct one). Each queue keeps ready messages in order and remembers unacked deliveries; a
//! consumer that goes away gives its unacked deliveries back, as a broker would. Confirms are
//! trivially immediate: a publish that returns has been queued.

use super::{
    Bus, BusError, BusMessage, Consumer, Delivery, Exchange, QueueKind, QueueSpec, Settle,
    topic_matches,
};
use async_trait::async_trait;
use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex},
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

/// The in-process bus. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct MemoryBus {
    inner: Arc<Mutex<State>>,
    delivery_limit: u32,
}

impl fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    queues: HashMap<String, Arc<Queue>>,
    bindings: Vec<Binding>,
}

struct Binding {
    exchange: Exchange,
    key: String,
    queue: String,
}

struct Queue {
    name: String,
    dlq: Option<String>,
    /// Goes away with its consumer.
    transient: bool,
    state: Mutex<QueueState>,
    /// Wakes consumers when a message becomes ready.
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    ready: VecDeque<Entry>,
    next_tag: u64,
    unacked: HashMap<u64, Entry>,
}

#[derive(Clone)]
struct Entry {
    message: BusMessage,
    deliveries: u32,
}

impl MemoryBus {
    pub fn new(delivery_limit: u32) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State::default())),
            delivery_limit: delivery_limit.max(1),
        }
    }

    fn queue(&self, name: &str) -> Option<Arc<Queue>> {
        lock(&self.inner).queues.get(name).cloned()
    }

    fn enqueue(&self, queue: &str, entry: Entry) {
        if let Some(q) = self.queue(queue) {
            lock(&q.state).ready.push_back(entry);
            q.ready.notify_waiters();
            q.ready.notify_one();
        }
    }

    /// Send a message that has run out of chances to the dead-letter queue.
    fn dead_letter(&self, queue: &Queue, entry: Entry) {
        match &queue.dlq {
            Some(dlq) => self.enqueue(
                dlq,
                Entry {
                    message: entry.message,
                    deliveries: 0,
                },
            ),
            None => tracing::warn!(queue = %queue.name, id = %entry.message.id,
                "transient queue has no dead-letter queue; message dropped"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these short locks leaves consistent data behind (every
    // critical section is a single push/pop), so poisoning is safe to ignore.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl Bus for MemoryBus {
    async fn declare(&self, spec: &QueueSpec) -> Result<(), BusError> {
        let mut st = lock(&self.inner);
        let dlq = (spec.kind == QueueKind::Durable).then(|| spec.dlq_name());
        if let Some(dlq) = &dlq {
            st.queues.entry(dlq.clone()).or_insert_with(|| {
                Arc::new(Queue {
                    name: dlq.clone(),
                    dlq: None,
                    transient: false,
                    state: Mutex::default(),
                    ready: Notify::new(),
                })
            });
        }
        st.queues.entry(spec.name.clone()).or_insert_with(|| {
            Arc::new(Queue {
                name: spec.name.clone(),
                transient: spec.kind == QueueKind::Transient,
                dlq,
                state: Mutex::default(),
                ready: Notify::new(),
            })
        });
        for (exchange, key) in &spec.bindings {
            let exists = st
                .bindings
                .iter()
                .any(|b| b.exchange == *exchange && b.key == *key && b.queue == spec.name);
            if !exists {
                st.bindings.push(Binding {
                    exchange: *exchange,
                    key: key.clone(),
                    queue: spec.name.clone(),
                });
            }
        }
        Ok(())
    }

    async fn publish(&self, exchange: Exchange, message: BusMessage) -> Result<(), BusError> {
        let targets: Vec<String> = {
            let st = lock(&self.inner);
            let mut t: Vec<String> = st
                .bindings
                .iter()
                .filter(|b| b.exchange == exchange)
                .filter(|b| {
                    if exchange.is_topic() {
                        topic_matches(&b.key, &message.routing_key)
                    } else {
                        b.key == message.routing_key
                    }
                })
                .map(|b| b.queue.clone())
                .collect();
            t.sort();
            t.dedup();
            t
        };
        if targets.is_empty() {
            if exchange == Exchange::Commands {
                return Err(BusError::Unroutable {
                    exchange: exchange.base_name().into(),
                    routing_key: message.routing_key,
                });
            }
            return Ok(());
        }
        for q in targets {
            self.enqueue(
                &q,
                Entry {
                    message: message.clone(),
                    deliveries: 0,
                },
            );
        }
        Ok(())
    }

    async fn bind(&self, queue: &str, exchange: Exchange, key: &str) -> Result<(), BusError> {
        let mut st = lock(&self.inner);
        if !st.queues.contains_key(queue) {
            return Err(BusError::UnknownQueue(queue.into()));
        }
        let exists = st
            .bindings
            .iter()
            .any(|b| b.exchange == exchange && b.key == key && b.queue == queue);
        if !exists {
            st.bindings.push(Binding {
                exchange,
                key: key.to_owned(),
                queue: queue.to_owned(),
            });
        }
        Ok(())
    }

    async fn unbind(&self, queue: &str, exchange: Exchange, key: &str) -> Result<(), BusError> {
        lock(&self.inner)
            .bindings
            .retain(|b| !(b.exchange == exchange && b.key == key && b.queue == queue));
        Ok(())
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Consumer, BusError> {
        let q = self
            .queue(queue)
            .ok_or_else(|| BusError::UnknownQueue(queue.into()))?;
        let prefetch = usize::from(prefetch.max(1));
        let (tx, rx) = mpsc::channel(prefetch);
        let bus = self.clone();
        tokio::spawn(async move { bus.pump(q, tx, Arc::new(Semaphore::new(prefetch))).await });
        Ok(Consumer::new(rx))
    }

    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError> {
        let q = self
            .queue(queue)
            .ok_or_else(|| BusError::UnknownQueue(queue.into()))?;
        Ok(lock(&q.state).ready.len() as u64)
    }
}

impl MemoryBus {
    /// Move ready messages to one consumer, at most `prefetch` unacked at a time: each
    /// delivery carries a semaphore permit that settling it gives back. When the consumer goes
    /// away its unacked deliveries go back to the head of the queue, marked redelivered.
    async fn pump(&self, q: Arc<Queue>, tx: mpsc::Sender<Delivery>, credit: Arc<Semaphore>) {
        let owned: Arc<Mutex<Vec<u64>>> = Arc::default();
        loop {
            let permit = tokio::select! {
                p = credit.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = tx.closed() => break,
            };
            let next = loop {
                let notified = q.ready.notified();
                let popped = {
                    let mut st = lock(&q.state);
                    st.ready.pop_front().map(|mut entry| {
                        entry.deliveries += 1;
                        st.next_tag += 1;
                        let tag = st.next_tag;
                        st.unacked.insert(tag, entry.clone());
                        (tag, entry)
                    })
                };
                if let Some(p) = popped {
                    break Some(p);
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tx.closed() => break None,
                }
            };
            let Some((tag, entry)) = next else { break };
            if entry.deliveries > self.delivery_limit {
                lock(&q.state).unacked.remove(&tag);
                self.dead_letter(&q, entry);
                continue;
            }
            lock(&owned).push(tag);
            let settle = Arc::new(MemorySettle {
                bus: self.clone(),
                queue: q.clone(),
                tag,
                owned: owned.clone(),
                credit: Mutex::new(Some(permit)),
            });
            let delivery = Delivery::new(entry.message, entry.deliveries > 1, settle);
            if tx.send(delivery).await.is_err() {
                break;
            }
        }
        // The consumer is gone: return what it still held, oldest first, at the head.
        let tags: Vec<u64> = std::mem::take(&mut *lock(&owned));
        let mut st = lock(&q.state);
        for tag in tags.into_iter().rev() {
            if let Some(entry) = st.unacked.remove(&tag) {
                st.ready.push_front(entry);
            }
        }
        drop(st);
        q.ready.notify_one();
        if q.transient {
            // A transient queue goes with its consumer, as RabbitMQ's exclusive, auto-delete
            // ones do: nothing more is routed to it.
            let mut st = lock(&self.inner);
            st.queues.remove(&q.name);
            st.bindings.retain(|b| b.queue != q.name);
        }
    }
}

struct MemorySettle {
    bus: MemoryBus,
    queue: Arc<Queue>,
    tag: u64,
    owned: Arc<Mutex<Vec<u64>>>,
    credit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl MemorySettle {
    fn take(&self) -> Option<Entry> {
        lock(&self.owned).retain(|t| *t != self.tag);
        lock(&self.credit).take();
        lock(&self.queue.state).unacked.remove(&self.tag)
    }
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(&self) -> Result<(), BusError> {
        self.take();
        Ok(())
    }

    async fn reject(&self, requeue: bool) -> Result<(), BusError> {
        let Some(entry) = self.take() else {
            return Ok(());
        };
        if requeue && entry.deliveries < self.bus.delivery_limit {
            lock(&self.queue.state).ready.push_front(entry);
            self.queue.ready.notify_one();
        } else {
            self.bus.dead_letter(&self.queue, entry);
        }
        Ok(())
    }
}
