//! Health: database and bus reachable, the nodes running, the outbox and dead letters.

use super::AdminUser;
use crate::{
    AppState,
    page::{self, PageError, local_time},
    session::Me,
};
use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;
use hark_core::{
    bus,
    store::{self, nodes, outbox},
};

/// Nodes not heard from for this long are shown as gone (and then forgotten).
const NODE_STALE_SECS: i64 = 30;

pub(crate) struct NodeRow {
    pub id: String,
    pub services: String,
    pub host: String,
    pub started: String,
    pub seen_secs: i64,
    pub up: bool,
    pub calls: String,
}

pub(crate) struct OutboxRow {
    pub seq: i64,
    pub key: String,
    pub created: String,
    pub attempts: i32,
    pub error: String,
}

pub(crate) struct QueueRow {
    pub name: String,
    pub waiting: String,
    pub dead: String,
    pub has_dead: bool,
}

#[derive(Template)]
#[template(path = "admin_system.html")]
struct SystemPage {
    me: Me,
    nav: &'static str,
    tab: &'static str,
    database: String,
    database_ok: bool,
    bus: String,
    bus_ok: bool,
    nodes: Vec<NodeRow>,
    active_calls: i64,
    outbox_total: i64,
    outbox: Vec<OutboxRow>,
    queues: Vec<QueueRow>,
}

#[get("/admin/system")]
pub(crate) async fn system_page(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    let tz = me.user.timezone.clone();
    let started = std::time::Instant::now();
    let db = state.deps.store.ping().await;
    let db_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (database, database_ok) = match &db {
        Ok(()) => (format!("reachable ({db_ms:.1} ms)"), true),
        Err(e) => (format!("unreachable: {e}"), false),
    };
    let now = store::now();
    let stale = now - chrono::Duration::seconds(NODE_STALE_SECS * 20);
    let loaded = if database_ok {
        state
            .deps
            .store
            .run(move |c| {
                Ok((
                    nodes::list_recent(c, stale)?,
                    outbox::count(c)?,
                    outbox::list_pending(c, 20)?,
                ))
            })
            .await
            .ok()
    } else {
        None
    };
    let (node_rows, outbox_total, pending) = loaded.unwrap_or_default();
    let mut active_calls = 0;
    let nodes = node_rows
        .into_iter()
        .map(|n| {
            let seen_secs = (now - n.heartbeat_at).num_seconds().max(0);
            let up = seen_secs <= NODE_STALE_SECS;
            if up {
                active_calls += i64::from(n.active_calls.unwrap_or(0));
            }
            NodeRow {
                id: n.id,
                services: n.services,
                host: format!("{} (pid {})", n.host, n.pid),
                started: local_time(n.started_at.and_utc(), &tz),
                seen_secs,
                up,
                calls: n.active_calls.map(|c| c.to_string()).unwrap_or_default(),
            }
        })
        .collect();
    let mut queues = Vec::new();
    let mut bus_error = None;
    for spec in bus::standard_topology() {
        let depth = |q: String| {
            let bus = state.deps.bus.clone();
            async move { bus.queue_depth(&q).await }
        };
        let waiting = depth(spec.name.clone()).await;
        let dead = depth(spec.dlq_name()).await;
        let show = |r: &Result<u64, bus::BusError>| match r {
            Ok(n) => n.to_string(),
            Err(_) => "?".into(),
        };
        if let Err(e) = &waiting {
            bus_error.get_or_insert_with(|| e.to_string());
        }
        queues.push(QueueRow {
            name: spec.name.clone(),
            waiting: show(&waiting),
            has_dead: matches!(dead, Ok(n) if n > 0),
            dead: show(&dead),
        });
    }
    let (bus, bus_ok) = match bus_error {
        None => ("reachable".to_owned(), true),
        Some(e) => (format!("unreachable: {e}"), false),
    };
    let status = if database_ok && bus_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(page::html(
        status,
        &SystemPage {
            me: me.me(),
            nav: "admin",
            tab: "system",
            database,
            database_ok,
            bus,
            bus_ok,
            nodes,
            active_calls,
            outbox_total,
            outbox: pending
                .into_iter()
                .map(|r| OutboxRow {
                    seq: r.seq,
                    key: r.routing_key,
                    created: local_time(r.created_at.and_utc(), &tz),
                    attempts: r.attempts,
                    error: r.last_error.unwrap_or_default(),
                })
                .collect(),
            queues,
        },
    ))
}
