//! Traffic for fault tests: a stream of messages sent the way a careful client sends them, the
//! recipients' open portal tabs, and the count of what each recipient saw.
//!
//! - [`Stream`] uploads messages through the portals in turn, each with its own
//!   `Idempotency-Key`; a request that fails (refused connection, a 5xx from a portal whose
//!   database is down, a portal killed mid-request) is sent again with the same key to the
//!   next portal, so a message is accepted once whatever happened to the answer.
//! - [`Tab`] is a person's open portal page: its WebSocket shows each pop-up once (by attempt,
//!   as `portal.js` does), answers "seen", and reconnects to another portal when its own goes.
//! - [`tally`] counts, per message and recipient, the e-mails (distinct Message-IDs, and raw
//!   copies), the pop-ups shown and the "delivered" receipts, once the system is quiet.
//!
//! Over 500 lines on purpose: the three are one idea (what a fault test sends and what it
//! counts), and each needs the others' ids.

use super::{cluster::Cluster, web::WebSession};
use anyhow::{Context, Result, bail};
use hark_core::{
    bus::{Bus, amqp::AmqpBus},
    store::schema::{delivery_attempts, messages, receipts, users},
};
use serde_json::Value;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};
use tokio_util::sync::CancellationToken;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One message the portal accepted.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub id: String,
    pub at: SystemTime,
}

/// Messages on their way, sent in the background.
pub struct Stream {
    pub accepted: Arc<Mutex<Vec<Accepted>>>,
    /// Requests sent again after a failure.
    pub retries: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Result<()>>,
}

/// A token for `extension`, from the first portal that answers.
pub async fn api_token(
    http: &reqwest::Client,
    bases: &[String],
    extension: &str,
) -> Result<String> {
    for _ in 0..100 {
        for base in bases {
            let r = http
                .post(format!("{base}/api/v1/login"))
                .json(&serde_json::json!({
                    "extension": extension,
                    "password": hark::demo::DEMO_PASSWORD,
                }))
                .send()
                .await;
            if let Ok(r) = r
                && r.status() == 200
            {
                let v: Value = r.json().await?;
                return Ok(v["token"].as_str().context("a token")?.to_owned());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("no portal let {extension} log in")
}

impl Stream {
    /// Send `n` messages to `to` (extensions, comma-separated) as `token`'s user, at most
    /// `per_second` a second, `concurrency` at a time, through `bases` in turn.
    pub fn start(
        bases: Vec<String>,
        token: String,
        to: &'static str,
        n: usize,
        per_second: f64,
        concurrency: usize,
    ) -> Self {
        let accepted: Arc<Mutex<Vec<Accepted>>> = Arc::default();
        let retries: Arc<AtomicUsize> = Arc::default();
        let (acc, ret) = (accepted.clone(), retries.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()?;
            let audio = Arc::new(super::audio::sine_wav(440.0, 0.5, 16_000));
            let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
            let started = tokio::time::Instant::now();
            let mut jobs = tokio::task::JoinSet::new();
            for i in 0..n {
                let due = started + Duration::from_secs_f64(i as f64 / per_second);
                tokio::time::sleep_until(due).await;
                let permit = slots.clone().acquire_owned().await?;
                let (http, bases, token, audio) =
                    (http.clone(), bases.clone(), token.clone(), audio.clone());
                let (acc, ret) = (acc.clone(), ret.clone());
                jobs.spawn(async move {
                    let key = uuid::Uuid::new_v4().to_string();
                    let id = send_once(&http, &bases, i, &token, to, &key, &audio, &ret).await?;
                    lock(&acc).push(Accepted {
                        id,
                        at: SystemTime::now(),
                    });
                    drop(permit);
                    Ok::<_, anyhow::Error>(())
                });
            }
            while let Some(r) = jobs.join_next().await {
                r??;
            }
            Ok(())
        });
        Self {
            accepted,
            retries,
            task,
        }
    }

    pub fn count(&self) -> usize {
        lock(&self.accepted).len()
    }

    /// Wait (bounded) until `k` messages were accepted.
    pub async fn wait_accepted(&self, k: usize) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.count() < k {
            assert!(
                !self.task.is_finished(),
                "the stream ended before {k} messages"
            );
            assert!(
                Instant::now() < deadline,
                "only {} of {k} accepted",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait for the last message to be accepted; every accepted message.
    pub async fn finish(self) -> Result<Vec<Accepted>> {
        self.task.await??;
        Ok(lock(&self.accepted).clone())
    }
}

/// Upload one message until a portal accepts it: the same key every time, the next portal
/// after each failure, for at most five minutes.
#[allow(clippy::too_many_arguments)]
async fn send_once(
    http: &reqwest::Client,
    bases: &[String],
    i: usize,
    token: &str,
    to: &str,
    key: &str,
    audio: &[u8],
    retries: &AtomicUsize,
) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut wait = Duration::from_millis(100);
    for attempt in 0usize.. {
        let base = &bases[(i + attempt) % bases.len()];
        let r = http
            .post(format!("{base}/api/v1/messages?to={to}"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .header("content-type", "audio/wav")
            .body(audio.to_vec())
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 201 => {
                let v: Value = r.json().await?;
                return Ok(v["id"].as_str().context("an id")?.to_owned());
            }
            Ok(r) if r.status().is_client_error() => {
                bail!("upload refused: {} {}", r.status(), r.text().await?)
            }
            // 5xx or no answer: the portal or its database is not there now. Try again.
            _ => {}
        }
        retries.fetch_add(1, Ordering::Relaxed);
        if Instant::now() > deadline {
            bail!("message {i} not accepted within five minutes");
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
    unreachable!("the loop returns or fails")
}

/// What one open tab saw.
#[derive(Debug, Default)]
pub struct TabLog {
    /// Pop-ups shown: attempt id → message id and when (each attempt is shown once, as the
    /// page does).
    pub shown: HashMap<String, (String, SystemTime)>,
    /// Pop-up frames received, repeats included.
    pub frames: usize,
    /// Times the socket had to be opened again (its portal went away).
    pub reconnects: usize,
}

/// A person with the portal open in a browser tab.
pub struct Tab {
    pub extension: &'static str,
    pub log: Arc<Mutex<TabLog>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Tab {
    /// Sign in on the first of `bases` and keep a tab open, moving to the next portal
    /// whenever the one it is on goes away.
    pub async fn open(bases: Vec<String>, extension: &'static str) -> Result<Self> {
        let mut web = WebSession::login(&bases[0], extension, hark::demo::DEMO_PASSWORD).await;
        let socket = web.socket().await?;
        let log: Arc<Mutex<TabLog>> = Arc::default();
        let stop = CancellationToken::new();
        let (l, s) = (log.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut socket = Some(socket);
            let mut next = 1usize;
            loop {
                if s.is_cancelled() {
                    return;
                }
                let Some(sock) = socket.as_mut() else {
                    // Reconnect, as portal.js does, to whichever portal answers.
                    web.base = bases[next % bases.len()].clone();
                    next += 1;
                    match web.socket().await {
                        Ok(sk) => {
                            lock(&l).reconnects += 1;
                            socket = Some(sk);
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                    continue;
                };
                let frame = tokio::select! {
                    f = sock.next_json(Duration::from_millis(500)) => f,
                    _ = s.cancelled() => return,
                };
                match frame {
                    Ok(Some(v)) if v["type"] == "popup" => {
                        let attempt = v["attempt_id"].as_str().unwrap_or_default().to_owned();
                        let message = v["message_id"].as_str().unwrap_or_default().to_owned();
                        {
                            let mut log = lock(&l);
                            log.frames += 1;
                            log.shown
                                .entry(attempt.clone())
                                .or_insert((message, SystemTime::now()));
                        }
                        let seen = serde_json::json!({"type": "seen", "attempt_id": attempt});
                        if sock.try_send(&seen).await.is_err() {
                            socket = None;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => socket = None,
                }
            }
        });
        Ok(Self {
            extension,
            log,
            stop,
            task,
        })
    }

    pub async fn close(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Per message and recipient, what the recipient saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Distinct e-mails (by Message-ID) and raw copies received.
    pub emails: usize,
    pub email_copies: usize,
    pub popups: usize,
    pub delivered_receipts: usize,
    /// When the last of these reached the recipient.
    pub last_at: Option<SystemTime>,
    /// When the first e-mail, pop-up and receipt came.
    pub firsts: [Option<SystemTime>; 3],
}

impl Seen {
    /// `channel`: 0 e-mail, 1 pop-up, 2 receipt.
    fn at(&mut self, channel: usize, t: SystemTime) {
        self.last_at = Some(self.last_at.map_or(t, |l| l.max(t)));
        let first = &mut self.firsts[channel];
        *first = Some(first.map_or(t, |f| f.min(t)));
    }
}

/// The outcome of a fault test.
#[derive(Debug)]
pub struct Tally {
    pub sent: usize,
    /// Messages every recipient got exactly once on every channel.
    pub delivered: usize,
    /// (message, recipient) pairs with more than one of something a user sees.
    pub duplicates: usize,
    /// (message, recipient) pairs missing something.
    pub lost: usize,
    /// Raw e-mail copies beyond the first with the same Message-ID (mail systems fold them).
    pub folded_copies: usize,
    /// Messages the sender's stream made (more than `sent` would mean a retry made a second).
    pub stored: usize,
    /// Worst delay from accepted to every recipient's "delivered" receipt, and the median.
    pub worst_latency: Duration,
    pub median_latency: Duration,
    /// When each message had reached every recipient on every channel.
    pub complete_at: HashMap<String, SystemTime>,
    /// Median delay from accepted to the e-mail, the pop-up and the receipt.
    pub channel_medians: [Duration; 3],
    pub problems: Vec<String>,
    /// When something was lost: what the store, the queues and the logs say of it.
    pub why_lost: Vec<String>,
}

impl Tally {
    /// How long after `until` (the end of a fault) the messages accepted by then had all
    /// reached everyone: zero if the fault delayed nothing past its end.
    pub fn recovered_after(&self, accepted: &[Accepted], until: SystemTime) -> Duration {
        accepted
            .iter()
            .filter(|a| a.at <= until)
            .filter_map(|a| self.complete_at.get(&a.id))
            .map(|done| since(until, *done))
            .max()
            .unwrap_or_default()
    }

    /// One line for the test log and docs/RELIABILITY.md.
    pub fn line(&self, fault: &str, recovered: Duration) -> String {
        format!(
            "FAULT {fault}: sent {} delivered {} duplicates {} lost {} (folded e-mail copies {}, \
             messages stored {}); accepted to seen by all: median {:.2} s, worst {:.1} s \
             (medians: e-mail {:.2} s, pop-up {:.2} s, receipt {:.2} s); recovered {:.1} s after \
             the fault",
            self.sent,
            self.delivered,
            self.duplicates,
            self.lost,
            self.folded_copies,
            self.stored,
            self.median_latency.as_secs_f64(),
            self.worst_latency.as_secs_f64(),
            self.channel_medians[0].as_secs_f64(),
            self.channel_medians[1].as_secs_f64(),
            self.channel_medians[2].as_secs_f64(),
            recovered.as_secs_f64(),
        )
    }

    /// Fail the test unless every recipient saw every message exactly once.
    pub fn assert_exactly_once(&self) {
        assert!(
            self.problems.is_empty() && self.duplicates == 0 && self.lost == 0,
            "{} lost, {} duplicated; first problems:\n{}\n{}",
            self.lost,
            self.duplicates,
            self.problems
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
            self.why_lost.join("\n")
        );
        assert_eq!(self.delivered, self.sent);
        assert_eq!(
            self.stored, self.sent,
            "a retried upload made a second message"
        );
    }
}

/// Wait (bounded by `within`) until every accepted message reached every recipient on every
/// channel their profile names (e-mail and pop-up here) and the queues and outbox are empty;
/// then count what each saw.
pub async fn tally(
    cluster: &Cluster,
    sender: &'static str,
    accepted: &[Accepted],
    tabs: &[&Tab],
    within: Duration,
) -> Result<Tally> {
    let deadline = Instant::now() + within;
    let ids: Vec<String> = accepted.iter().map(|a| a.id.clone()).collect();
    let people: Vec<&'static str> = tabs.iter().map(|t| t.extension).collect();
    let bus = AmqpBus::connect(&cluster.amqp_url, &cluster.namespace, 1).await?;
    let mut seen;
    loop {
        seen = observe(cluster, &ids, tabs).await?;
        let complete = ids.iter().all(|m| {
            people.iter().all(|p| {
                seen.get(&(m.clone(), (*p).to_owned()))
                    .is_some_and(|s| s.emails >= 1 && s.popups >= 1 && s.delivered_receipts >= 1)
            })
        });
        if complete && quiet(cluster, &bus).await? {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Quiet now; look once more so anything that was still in flight is counted.
    seen = observe(cluster, &ids, tabs).await?;
    let mut t = Tally {
        sent: ids.len(),
        delivered: 0,
        duplicates: 0,
        lost: 0,
        folded_copies: 0,
        stored: 0,
        worst_latency: Duration::ZERO,
        median_latency: Duration::ZERO,
        complete_at: HashMap::new(),
        channel_medians: [Duration::ZERO; 3],
        problems: Vec::new(),
        why_lost: Vec::new(),
    };
    let accepted_at: HashMap<&str, SystemTime> =
        accepted.iter().map(|a| (a.id.as_str(), a.at)).collect();
    for (ch, median) in t.channel_medians.iter_mut().enumerate() {
        let mut d: Vec<Duration> = seen
            .iter()
            .filter_map(|((m, _), s)| Some(since(*accepted_at.get(m.as_str())?, s.firsts[ch]?)))
            .collect();
        d.sort();
        *median = d.get(d.len() / 2).copied().unwrap_or_default();
    }
    for m in &ids {
        let mut whole = true;
        for p in &people {
            let s = seen
                .get(&(m.clone(), (*p).to_owned()))
                .cloned()
                .unwrap_or_default();
            t.folded_copies += s.email_copies.saturating_sub(s.emails);
            if s.emails > 1 || s.popups > 1 || s.delivered_receipts > 1 {
                t.duplicates += 1;
                t.problems.push(format!("{m} to {p}: {s:?}"));
            }
            if s.emails == 0 || s.popups == 0 || s.delivered_receipts == 0 {
                t.lost += 1;
                whole = false;
                t.problems.push(format!("{m} to {p}: {s:?}"));
            }
        }
        if whole {
            t.delivered += 1;
            let done = people
                .iter()
                .filter_map(|p| seen.get(&(m.clone(), (*p).to_owned()))?.last_at)
                .max();
            if let Some(done) = done {
                t.complete_at.insert(m.clone(), done);
            }
        }
    }
    // Latency: accepted → the last e-mail, pop-up or receipt of it to reach anyone.
    let mut latencies = Vec::new();
    for a in accepted {
        if let Some(at) = t.complete_at.get(&a.id) {
            latencies.push(since(a.at, *at));
        }
    }
    latencies.sort();
    t.worst_latency = latencies.last().copied().unwrap_or_default();
    t.median_latency = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    t.stored = count_sent_by(cluster, sender).await?;
    if t.lost > 0 {
        t.why_lost = why_lost(cluster, &bus, &t.problems).await?;
    }
    Ok(t)
}

/// What the system knows of the first lost deliveries — their attempts, the log lines that
/// name the message, and any queue still holding something (a dead letter, say) — so a loss
/// seen once can be explained from the failure message alone.
async fn why_lost(cluster: &Cluster, bus: &AmqpBus, problems: &[String]) -> Result<Vec<String>> {
    use diesel::prelude::*;
    let mut out = Vec::new();
    for q in hark_core::bus::standard_topology() {
        let depth = bus.queue_depth(&q.name).await?;
        if depth > 0 {
            out.push(format!("queue {} holds {depth}", q.name));
        }
    }
    let pending = cluster.store.run(hark_core::store::outbox::count).await?;
    out.push(format!("outbox rows waiting: {pending}"));
    let lost: Vec<String> = problems
        .iter()
        .filter_map(|p| p.split_whitespace().next().map(str::to_owned))
        .take(3)
        .collect();
    for m in lost {
        let id = m.clone();
        let attempts = cluster
            .store
            .run(move |c| {
                Ok(delivery_attempts::table
                    .filter(delivery_attempts::message_id.eq(id))
                    .select((
                        delivery_attempts::id,
                        delivery_attempts::recipient_id,
                        delivery_attempts::channel,
                        delivery_attempts::state,
                        delivery_attempts::detail,
                    ))
                    .load::<(String, String, String, String, Option<String>)>(c)?)
            })
            .await?;
        out.push(format!("message {m}: attempts {attempts:?}"));
        out.extend(cluster.log_lines(&m, 40));
    }
    Ok(out)
}

/// Nothing left to do: the outbox is empty and no command or event waits in a queue.
async fn quiet(cluster: &Cluster, bus: &AmqpBus) -> Result<bool> {
    let pending = cluster.store.run(hark_core::store::outbox::count).await?;
    if pending > 0 {
        return Ok(false);
    }
    for q in hark_core::bus::standard_topology() {
        if bus.queue_depth(&q.name).await? > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What every recipient saw, per (message id, extension).
async fn observe(
    cluster: &Cluster,
    ids: &[String],
    tabs: &[&Tab],
) -> Result<HashMap<(String, String), Seen>> {
    use diesel::prelude::*;
    let ids_db = ids.to_vec();
    // E-mails carry the attempt id in their Message-ID: attempt → (message, extension).
    type Delivered = Vec<(String, String, chrono::NaiveDateTime)>;
    let (attempts, delivered): (Vec<(String, String, String)>, Delivered) = cluster
        .store
        .run(move |c| {
            let mut attempts = Vec::new();
            let mut delivered = Vec::new();
            for chunk in ids_db.chunks(500) {
                attempts.extend(
                    delivery_attempts::table
                        .inner_join(users::table.on(users::id.eq(delivery_attempts::recipient_id)))
                        .filter(delivery_attempts::message_id.eq_any(chunk))
                        .select((
                            delivery_attempts::id,
                            delivery_attempts::message_id,
                            users::extension,
                        ))
                        .load::<(String, String, String)>(c)?,
                );
                delivered.extend(
                    receipts::table
                        .inner_join(users::table.on(users::id.eq(receipts::recipient_id)))
                        .filter(receipts::message_id.eq_any(chunk))
                        .filter(receipts::kind.eq("delivered"))
                        .select((receipts::message_id, users::extension, receipts::created_at))
                        .load::<(String, String, chrono::NaiveDateTime)>(c)?,
                );
            }
            Ok((attempts, delivered))
        })
        .await?;
    let by_attempt: HashMap<&str, (&str, &str)> = attempts
        .iter()
        .map(|(a, m, e)| (a.as_str(), (m.as_str(), e.as_str())))
        .collect();
    let mut seen: HashMap<(String, String), Seen> = HashMap::new();
    let mut ids_by_pair: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for e in cluster.emails() {
        let attempt = e
            .message_id
            .trim_matches(['<', '>'])
            .trim_end_matches("@hark")
            .to_owned();
        if let Some((m, ext)) = by_attempt.get(attempt.as_str()) {
            let key = ((*m).to_owned(), (*ext).to_owned());
            let entry = seen.entry(key.clone()).or_default();
            entry.email_copies += 1;
            entry.at(0, e.received);
            ids_by_pair.entry(key).or_default().insert(attempt);
        }
    }
    for (key, distinct) in ids_by_pair {
        seen.entry(key).or_default().emails = distinct.len();
    }
    for tab in tabs {
        let log = lock(&tab.log);
        for (m, at) in log.shown.values() {
            let entry = seen
                .entry((m.clone(), tab.extension.to_owned()))
                .or_default();
            entry.popups += 1;
            entry.at(1, *at);
        }
    }
    for (m, ext, at) in delivered {
        let entry = seen.entry((m, ext)).or_default();
        entry.delivered_receipts += 1;
        entry.at(2, wall(at));
    }
    Ok(seen)
}

/// A stored UTC timestamp as a wall-clock time.
fn wall(at: chrono::NaiveDateTime) -> SystemTime {
    SystemTime::UNIX_EPOCH
        + Duration::from_micros(u64::try_from(at.and_utc().timestamp_micros()).unwrap_or(0))
}

/// Messages `extension` has sent (stored, whatever their state).
async fn count_sent_by(cluster: &Cluster, extension: &'static str) -> Result<usize> {
    use diesel::prelude::*;
    let n: i64 = cluster
        .store
        .run(move |c| {
            Ok(messages::table
                .inner_join(users::table.on(users::id.eq(messages::sender_id)))
                .filter(users::extension.eq(extension))
                .count()
                .get_result(c)?)
        })
        .await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Seconds from `from` to `to` (zero if `to` is earlier).
pub fn since(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or_default()
}
