//! Administration (admins only; anyone else gets 403):
//!
//! - `/admin`: people — create, disable and enable (disabling ends their sessions and tokens,
//!   and the phone treats them as unknown), reset a PIN (and its lockout).
//! - `/admin/plugins`: delivery plugins — upload a `.wasm` with its configuration (validated
//!   in a real plugin host, [`PluginCheck`], before anything is stored; the report lists what
//!   was checked), enable, disable, reorder, remove; calls, failures, mean time, the last
//!   load error and the newest log lines. Every change is stored with `plugin.changed` in one
//!   transaction, so every router reloads.
//! - `/admin/system`: health — database and bus reachable, the nodes running (with IVR
//!   calls in progress), the outbox (events not yet published) and each queue's dead letters.

use crate::{
    AppState,
    page::{self, PageError, local_time},
    session::{Me, WebUser},
};
use actix_multipart::Multipart;
use actix_web::{
    FromRequest, HttpRequest, HttpResponse, dev::Payload, get, http::StatusCode, post, web,
};
use askama::Template;
use futures_util::{StreamExt, future::LocalBoxFuture};
use hark_core::{
    bus, password,
    store::{self, StoreError, nodes, outbox, plugins, users},
};
use serde::Deserialize;

/// What a plugin upload is checked against before it is stored; the binary supplies one
/// backed by the router's own plugin host, so the portal accepts exactly what routers load.
pub trait PluginCheck: Send + Sync + std::fmt::Debug {
    /// Validate `wasm` with `config` (blocking: compiles and dry-runs the plugin).
    fn check(&self, wasm: &[u8], config: &str) -> Result<PluginReport, String>;
}

/// What a valid plugin says about itself.
#[derive(Clone, Debug)]
pub struct PluginReport {
    pub name: String,
    pub version: String,
    pub description: String,
    pub sha256: String,
}

/// The checks [`PluginCheck`] implementations make, as shown to admins.
const CHECKS: [&str; 6] = [
    "size within the limit",
    "a WebAssembly component",
    "imports only the host's log and capability-free WASI",
    "exports the delivery-plugin world",
    "accepts its configuration",
    "plans sample messages (online and offline, urgent and not) within fuel, memory and time",
];

/// Nodes not heard from for this long are shown as gone (and then forgotten).
const NODE_STALE_SECS: i64 = 30;

/// A signed-in admin.
#[derive(Clone, Debug)]
pub(crate) struct AdminUser(pub WebUser);

impl FromRequest for AdminUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = WebUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.user.is_admin() {
                Ok(AdminUser(user))
            } else {
                Err(PageError::Forbidden)
            }
        })
    }
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(users_page)
        .service(create_user)
        .service(set_disabled)
        .service(reset_pin)
        .service(plugins_page)
        .service(upload_plugin)
        .service(plugin_action)
        .service(system_page);
}

// ---------------------------------------------------------------------------------------
// People

pub(crate) struct UserRow {
    pub extension: String,
    pub name: String,
    pub email: String,
    pub admin: bool,
    pub disabled: bool,
    pub locked: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    me: Me,
    nav: &'static str,
    tab: &'static str,
    error: String,
    notice: String,
    users: Vec<UserRow>,
}

async fn render_users(
    state: &AppState,
    me: &WebUser,
    status: StatusCode,
    error: String,
    notice: String,
) -> Result<HttpResponse, PageError> {
    let rows = state.deps.store.run(users::list).await?;
    let users = rows
        .into_iter()
        .map(|u| UserRow {
            admin: u.is_admin(),
            disabled: u.is_disabled(),
            locked: u.login_locked() || u.pin_locked(),
            extension: u.extension,
            name: u.display_name,
            email: u.email.unwrap_or_default(),
        })
        .collect();
    Ok(page::html(
        status,
        &UsersPage {
            me: me.me(),
            nav: "admin",
            tab: "users",
            error,
            notice,
            users,
        },
    ))
}

#[get("/admin")]
pub(crate) async fn users_page(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, PageError> {
    render_users(
        &state,
        &admin.0,
        StatusCode::OK,
        String::new(),
        String::new(),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewUserForm {
    #[serde(default)]
    csrf: String,
    extension: String,
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    pin: String,
    #[serde(default)]
    admin: Option<String>,
}

fn valid_pin(pin: &str) -> bool {
    (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

#[post("/admin/users")]
pub(crate) async fn create_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    form: web::Form<NewUserForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let (ext, name, email) = (
        f.extension.trim().to_owned(),
        f.display_name.trim().to_owned(),
        f.email.trim().to_owned(),
    );
    let problem = if name.is_empty() || name.chars().count() > 80 {
        Some("A name is 1 to 80 characters.")
    } else if !f.password.is_empty() && f.password.chars().count() < 10 {
        Some("A password is at least 10 characters (or leave it empty: phone only).")
    } else if !f.pin.is_empty() && !valid_pin(&f.pin) {
        Some("A PIN is 4 to 8 digits.")
    } else if f.password.is_empty() && f.pin.is_empty() {
        Some("Give a password (portal), a PIN (phone), or both.")
    } else if !email.is_empty() && (!email.contains('@') || email.len() > 254) {
        Some("That is not an e-mail address.")
    } else {
        None
    };
    if let Some(p) = problem {
        return render_users(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            p.into(),
            String::new(),
        )
        .await;
    }
    let (password, pin) = (f.password, f.pin);
    let (password_hash, pin_hash) = tokio::task::spawn_blocking(move || {
        let hash = |s: &str| (!s.is_empty()).then(|| password::hash(s)).transpose();
        Ok::<_, hark_core::password::HashError>((hash(&password)?, hash(&pin)?))
    })
    .await?
    .map_err(|e| PageError::Internal(e.to_string()))?;
    let form = users::UserInsertForm {
        extension: ext.clone(),
        display_name: name,
        email: (!email.is_empty()).then_some(email),
        phone_uri: None,
        pin_hash,
        password_hash,
        admin: f.admin.is_some(),
    };
    match state.deps.store.run(move |c| users::create(c, form)).await {
        Ok(u) => {
            tracing::info!(by = %me.user.extension, extension = %u.extension, "user created");
            render_users(
                &state,
                &me,
                StatusCode::OK,
                String::new(),
                format!("{} ({}) can sign in now.", u.display_name, u.extension),
            )
            .await
        }
        Err(StoreError::Conflict(why) | StoreError::Invalid(why)) => {
            render_users(
                &state,
                &me,
                StatusCode::UNPROCESSABLE_ENTITY,
                why,
                String::new(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DisableForm {
    #[serde(default)]
    csrf: String,
    disabled: String,
}

/// Disable (ends their sessions and tokens at once) or enable someone.
#[post("/admin/users/{extension}/disabled")]
pub(crate) async fn set_disabled(
    state: web::Data<AppState>,
    admin: AdminUser,
    ext: web::Path<String>,
    form: web::Form<DisableForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let disable = form.disabled == "1";
    let ext = ext.into_inner();
    if disable && ext == me.user.extension {
        return render_users(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "You cannot disable yourself.".into(),
            String::new(),
        )
        .await;
    }
    let found = state
        .deps
        .store
        .transaction(move |c| match users::find_by_extension(c, &ext)? {
            Some(u) => Ok(users::set_disabled(c, &u.user_id(), disable)?.then_some(u.id)),
            None => Ok(None),
        })
        .await?;
    let Some(user) = found else {
        return Err(PageError::NotFound);
    };
    if disable {
        state.hub.sessions_ended(&user);
    }
    Ok(page::see_other("/admin"))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PinForm {
    #[serde(default)]
    csrf: String,
    pin: String,
}

/// Give someone a new PIN (they forgot theirs) and lift a PIN lockout.
#[post("/admin/users/{extension}/pin")]
pub(crate) async fn reset_pin(
    state: web::Data<AppState>,
    admin: AdminUser,
    ext: web::Path<String>,
    form: web::Form<PinForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let pin = form.pin.trim().to_owned();
    if !valid_pin(&pin) {
        return render_users(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "A PIN is 4 to 8 digits.".into(),
            String::new(),
        )
        .await;
    }
    let hash = tokio::task::spawn_blocking(move || password::hash(&pin))
        .await?
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let ext = ext.into_inner();
    let e2 = ext.clone();
    let found = state
        .deps
        .store
        .transaction(move |c| match users::find_by_extension(c, &e2)? {
            Some(u) => {
                users::set_pin_hash(c, &u.user_id(), Some(&hash))?;
                users::reset_pin_failures(c, &u.user_id())?;
                Ok(true)
            }
            None => Ok(false),
        })
        .await?;
    if !found {
        return Err(PageError::NotFound);
    }
    tracing::info!(by = %me.user.extension, extension = %ext, "PIN reset");
    render_users(
        &state,
        &me,
        StatusCode::OK,
        String::new(),
        format!("New PIN set for {ext}."),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Plugins

pub(crate) struct LogRow {
    pub at: String,
    pub level: String,
    pub message: String,
}

pub(crate) struct PluginRow {
    pub name: String,
    pub version: String,
    pub enabled: bool,
    pub priority: i32,
    pub calls: i64,
    pub failures: i64,
    pub mean_us: String,
    pub sha: String,
    pub config: String,
    pub last_error: String,
    pub logs: Vec<LogRow>,
}

#[derive(Template)]
#[template(path = "admin_plugins.html")]
struct PluginsPage {
    me: Me,
    nav: &'static str,
    tab: &'static str,
    error: String,
    /// The report of an upload just made.
    report: Option<PluginReport>,
    checks: &'static [&'static str],
    plugins: Vec<PluginRow>,
}

async fn render_plugins(
    state: &AppState,
    me: &WebUser,
    status: StatusCode,
    error: String,
    report: Option<PluginReport>,
) -> Result<HttpResponse, PageError> {
    let tz = me.user.timezone.clone();
    let rows = state
        .deps
        .store
        .run(|c| {
            plugins::list(c)?
                .into_iter()
                .map(|p| {
                    let logs = plugins::recent_logs(c, &p.name, 10)?;
                    Ok((p, logs))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await?;
    let plugins = rows
        .into_iter()
        .map(|(p, logs)| PluginRow {
            mean_us: if p.calls > 0 {
                format!("{:.0}", p.total_micros as f64 / p.calls as f64)
            } else {
                "–".into()
            },
            sha: p.sha256.chars().take(12).collect(),
            name: p.name,
            version: p.version,
            enabled: p.enabled,
            priority: p.priority,
            calls: p.calls,
            failures: p.failures,
            config: p.config,
            last_error: p.last_error.unwrap_or_default(),
            logs: logs
                .into_iter()
                .map(|l| LogRow {
                    at: local_time(l.at.and_utc(), &tz),
                    level: l.level,
                    message: l.message,
                })
                .collect(),
        })
        .collect();
    Ok(page::html(
        status,
        &PluginsPage {
            me: me.me(),
            nav: "admin",
            tab: "plugins",
            error,
            report,
            checks: &CHECKS,
            plugins,
        },
    ))
}

#[get("/admin/plugins")]
pub(crate) async fn plugins_page(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, PageError> {
    render_plugins(&state, &admin.0, StatusCode::OK, String::new(), None).await
}

/// Upload a plugin (multipart: `wasm`, `config`, `priority`, `enabled`): validated first; a
/// refused file changes nothing and the page says why.
#[post("/admin/plugins")]
pub(crate) async fn upload_plugin(
    state: web::Data<AppState>,
    admin: AdminUser,
    mut form: Multipart,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    // The plugin size limit, plus room for the other fields.
    let limit = state.plugin_max_bytes;
    let (mut csrf, mut wasm, mut config, mut priority, mut enabled) = (
        String::new(),
        Vec::new(),
        String::new(),
        String::new(),
        false,
    );
    let mut fields = 0;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| PageError::BadRequest(e.to_string()))?;
        fields += 1;
        if fields > 8 {
            return Err(PageError::BadRequest("too many form fields".into()));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let cap = if name == "wasm" { limit } else { 64 * 1024 };
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| PageError::BadRequest(e.to_string()))?;
            if buf.len() + chunk.len() > cap {
                return Err(PageError::TooLarge(cap));
            }
            buf.extend_from_slice(&chunk);
        }
        let text = || String::from_utf8_lossy(&buf).into_owned();
        match name.as_str() {
            "csrf" => csrf = text(),
            "wasm" => wasm = buf,
            "config" => config = text(),
            "priority" => priority = text(),
            "enabled" => enabled = true,
            _ => {}
        }
    }
    me.check_csrf(&csrf)?;
    let refuse =
        |why: String| render_plugins(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, why, None);
    if wasm.is_empty() {
        return refuse("Choose a .wasm file.".into()).await;
    }
    let priority: i32 = match priority.trim() {
        "" => 100,
        p => match p.parse() {
            Ok(p) => p,
            Err(_) => return refuse("Priority is a whole number (lower runs first).".into()).await,
        },
    };
    let checker = state.plugins.clone();
    let (wasm, config, checked) = tokio::task::spawn_blocking(move || {
        let checked = checker.check(&wasm, &config);
        (wasm, config, checked)
    })
    .await?;
    let report = match checked {
        Ok(r) => r,
        Err(why) => {
            tracing::warn!(by = %me.user.extension, %why, "plugin upload refused");
            return refuse(format!("Refused: {why}. Nothing was changed.")).await;
        }
    };
    let form = plugins::PluginUpsertForm {
        name: report.name.clone(),
        version: report.version.clone(),
        sha256: report.sha256.clone(),
        wasm,
        config,
        priority,
        enabled,
    };
    state
        .deps
        .store
        .transaction(move |c| plugins::install(c, &form).map(|_| ()))
        .await?;
    state.deps.outbox.notify();
    tracing::info!(by = %me.user.extension, plugin = %report.name, version = %report.version, "plugin installed");
    render_plugins(&state, &me, StatusCode::OK, String::new(), Some(report)).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct PluginActionForm {
    #[serde(default)]
    csrf: String,
    action: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    config: String,
}

/// Give an installed plugin a new configuration: checked by the host with the stored
/// component first, exactly as an upload is; a refused one changes nothing.
async fn reconfigure(
    state: &AppState,
    me: &WebUser,
    name: String,
    config: String,
) -> Result<HttpResponse, PageError> {
    let n2 = name.clone();
    let stored = state
        .deps
        .store
        .run(move |c| plugins::find_by_name(c, &n2))
        .await?
        .ok_or(PageError::NotFound)?;
    if config.len() > 64 * 1024 {
        return Err(PageError::TooLarge(64 * 1024));
    }
    let checker = state.plugins.clone();
    let (wasm, config, checked) = tokio::task::spawn_blocking(move || {
        let checked = checker.check(&stored.wasm, &config);
        (stored.wasm, config, checked)
    })
    .await?;
    let report = match checked {
        Ok(r) => r,
        Err(why) => {
            return render_plugins(
                state,
                me,
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Refused: {why}. The configuration was not changed."),
                None,
            )
            .await;
        }
    };
    let form = plugins::PluginUpsertForm {
        name: report.name.clone(),
        version: report.version.clone(),
        sha256: report.sha256.clone(),
        wasm,
        config,
        priority: stored.priority,
        enabled: stored.enabled,
    };
    state
        .deps
        .store
        .transaction(move |c| plugins::install(c, &form).map(|_| ()))
        .await?;
    state.deps.outbox.notify();
    tracing::info!(by = %me.user.extension, plugin = %name, "plugin reconfigured");
    render_plugins(state, me, StatusCode::OK, String::new(), Some(report)).await
}

/// Enable, disable, reprioritize or remove a plugin.
#[post("/admin/plugins/{name}")]
pub(crate) async fn plugin_action(
    state: web::Data<AppState>,
    admin: AdminUser,
    name: web::Path<String>,
    form: web::Form<PluginActionForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let name = name.into_inner();
    if form.action == "config" {
        return reconfigure(&state, &me, name, form.config).await;
    }
    let priority = match form.priority.trim().parse::<i32>() {
        Ok(p) => Some(p),
        Err(_) if form.action != "priority" => None,
        Err(_) => {
            return render_plugins(
                &state,
                &me,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Priority is a whole number (lower runs first).".into(),
                None,
            )
            .await;
        }
    };
    let action = form.action.clone();
    let n2 = name.clone();
    let found = state
        .deps
        .store
        .transaction(move |c| {
            let found = match action.as_str() {
                "enable" => plugins::set_enabled(c, &n2, true)?,
                "disable" => plugins::set_enabled(c, &n2, false)?,
                "priority" => plugins::set_priority(c, &n2, priority.unwrap_or(100))?,
                "delete" => plugins::delete(c, &n2)?,
                _ => return Err(StoreError::Invalid("unknown action".into())),
            };
            if found {
                plugins::announce(c, &n2)?;
            }
            Ok(found)
        })
        .await?;
    if !found {
        return Err(PageError::NotFound);
    }
    state.deps.outbox.notify();
    tracing::info!(by = %me.user.extension, plugin = %name, action = %form.action, "plugin changed");
    Ok(page::see_other("/admin/plugins"))
}

// ---------------------------------------------------------------------------------------
// System

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

#[cfg(test)]
mod tests {
    #[test]
    fn pins_are_four_to_eight_digits() {
        assert!(super::valid_pin("1234") && super::valid_pin("12345678"));
        assert!(!super::valid_pin("123") && !super::valid_pin("123456789"));
        assert!(!super::valid_pin("12a4"));
    }
}
