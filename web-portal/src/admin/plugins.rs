//! Delivery plugins: upload (checked in a real plugin host first), enable, disable, reorder,
//! remove; calls, failures, mean time, the last load error and the newest log lines.

use super::AdminUser;
use crate::{
    AppState,
    page::{self, PageError, local_time},
    session::{Me, WebUser},
};
use actix_multipart::Multipart;
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use futures_util::StreamExt;
use hark_core::store::{StoreError, plugins};
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
            // The words first; a checker's own detail (a parser's message) on a line below.
            let refusal = match why.split_once('\n') {
                Some((words, detail)) => {
                    format!("Refused: {words}. Nothing was changed.\n{detail}")
                }
                None => format!("Refused: {why}. Nothing was changed."),
            };
            return refuse(refusal).await;
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
    let done = match form.action.as_str() {
        "enable" => format!("Plugin {name} enabled."),
        "disable" => format!("Plugin {name} disabled."),
        "delete" => format!("Plugin {name} removed."),
        _ => format!(
            "Plugin {name} now runs at priority {}.",
            priority.unwrap_or(100)
        ),
    };
    crate::forms::done(&state, &me, "/admin/plugins", &done).await
}
