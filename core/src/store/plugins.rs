//! Installed delivery plugins: one row per name with its current version, bytes, config,
//! priority (lower runs first) and whether it is enabled. Replacing a plugin rewrites its row in
//! one statement, so readers see the old version or the new one, never a mix.

use super::{DbConnection, StoreError, now, schema::plugins};
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = plugins)]
pub struct Plugin {
    pub id: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub wasm: Vec<u8>,
    pub enabled: bool,
    pub priority: i32,
    pub calls: i64,
    pub failures: i64,
    pub created_at: chrono::NaiveDateTime,
    pub config: String,
    pub updated_at: Option<chrono::NaiveDateTime>,
    pub last_error: Option<String>,
    /// Time spent in calls, for the mean latency.
    pub total_micros: i64,
}

/// A validated plugin to install or replace.
#[derive(Clone, Debug)]
pub struct PluginUpsertForm {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub wasm: Vec<u8>,
    pub config: String,
    pub priority: i32,
    pub enabled: bool,
}

/// Install, or replace the row of the same name. Returns true when anything changed.
pub fn upsert(conn: &mut DbConnection, form: &PluginUpsertForm) -> Result<bool, StoreError> {
    let at = now();
    match find_by_name(conn, &form.name)? {
        Some(old)
            if old.sha256 == form.sha256
                && old.config == form.config
                && old.priority == form.priority
                && old.enabled == form.enabled =>
        {
            Ok(false)
        }
        found => {
            // The same columns either way; a replaced plugin's last load error goes with it.
            let fields = (
                plugins::version.eq(&form.version),
                plugins::sha256.eq(&form.sha256),
                plugins::wasm.eq(&form.wasm),
                plugins::config.eq(&form.config),
                plugins::priority.eq(form.priority),
                plugins::enabled.eq(form.enabled),
                plugins::updated_at.eq(Some(at)),
            );
            match found {
                Some(old) => diesel::update(plugins::table.find(&old.id))
                    .set((fields, plugins::last_error.eq(None::<String>)))
                    .execute(conn)?,
                None => diesel::insert_into(plugins::table)
                    .values((
                        plugins::id.eq(crate::ids::EventId::new().as_str()),
                        plugins::name.eq(&form.name),
                        plugins::created_at.eq(at),
                        fields,
                    ))
                    .execute(conn)?,
            };
            Ok(true)
        }
    }
}

pub fn find_by_name(conn: &mut DbConnection, name: &str) -> Result<Option<Plugin>, StoreError> {
    Ok(plugins::table
        .filter(plugins::name.eq(name))
        .select(Plugin::as_select())
        .first(conn)
        .optional()?)
}

/// Every plugin, in the order the router asks them (priority, then name).
pub fn list(conn: &mut DbConnection) -> Result<Vec<Plugin>, StoreError> {
    Ok(plugins::table
        .order((plugins::priority.asc(), plugins::name.asc()))
        .select(Plugin::as_select())
        .load(conn)?)
}

pub fn list_enabled(conn: &mut DbConnection) -> Result<Vec<Plugin>, StoreError> {
    Ok(plugins::table
        .filter(plugins::enabled.eq(true))
        .order((plugins::priority.asc(), plugins::name.asc()))
        .select(Plugin::as_select())
        .load(conn)?)
}

/// Enable or disable by name; false when there is no such plugin.
pub fn set_enabled(conn: &mut DbConnection, name: &str, enabled: bool) -> Result<bool, StoreError> {
    let n = diesel::update(plugins::table.filter(plugins::name.eq(name)))
        .set((
            plugins::enabled.eq(enabled),
            plugins::updated_at.eq(Some(now())),
        ))
        .execute(conn)?;
    Ok(n > 0)
}

/// Remember why a stored plugin could not be loaded (shown to admins).
pub fn set_last_error(
    conn: &mut DbConnection,
    name: &str,
    error: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(plugins::table.filter(plugins::name.eq(name)))
        .set(plugins::last_error.eq(error))
        .execute(conn)?;
    Ok(())
}

/// Add a router's call counts and call time to the stored totals.
pub fn add_stats(
    conn: &mut DbConnection,
    name: &str,
    calls: i64,
    failures: i64,
    micros: i64,
) -> Result<(), StoreError> {
    diesel::update(plugins::table.filter(plugins::name.eq(name)))
        .set((
            plugins::calls.eq(plugins::calls + calls),
            plugins::failures.eq(plugins::failures + failures),
            plugins::total_micros.eq(plugins::total_micros + micros),
        ))
        .execute(conn)?;
    Ok(())
}

/// One line a plugin logged (or the host logged about it).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = super::schema::plugin_logs)]
pub struct LogLine {
    pub plugin: String,
    pub at: chrono::NaiveDateTime,
    pub level: String,
    pub message: String,
}

/// Lines kept per plugin.
pub const KEEP_LOG_LINES: i64 = 100;

/// Append log lines, keeping the newest [`KEEP_LOG_LINES`] of each plugin.
pub fn add_logs(conn: &mut DbConnection, lines: &[LogLine]) -> Result<(), StoreError> {
    use super::schema::plugin_logs as l;
    let mut names: Vec<&str> = Vec::new();
    for line in lines {
        diesel::insert_into(l::table)
            .values((
                l::plugin.eq(&line.plugin),
                l::at.eq(line.at),
                l::level.eq(&line.level),
                l::message.eq(&line.message),
            ))
            .execute(conn)?;
        if !names.contains(&line.plugin.as_str()) {
            names.push(&line.plugin);
        }
    }
    for name in names {
        let cutoff: Option<i64> = l::table
            .filter(l::plugin.eq(name))
            .order(l::id.desc())
            .offset(KEEP_LOG_LINES)
            .select(l::id)
            .first(conn)
            .optional()?;
        if let Some(cutoff) = cutoff {
            diesel::delete(l::table.filter(l::plugin.eq(name)).filter(l::id.le(cutoff)))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// The newest `limit` lines of `plugin`, newest first.
pub fn recent_logs(
    conn: &mut DbConnection,
    plugin: &str,
    limit: i64,
) -> Result<Vec<LogLine>, StoreError> {
    use super::schema::plugin_logs as l;
    Ok(l::table
        .filter(l::plugin.eq(plugin))
        .order(l::id.desc())
        .limit(limit)
        .select(LogLine::as_select())
        .load(conn)?)
}

/// Change a plugin's priority; false when there is none of that name.
pub fn set_priority(
    conn: &mut DbConnection,
    name: &str,
    priority: i32,
) -> Result<bool, StoreError> {
    Ok(
        diesel::update(plugins::table.filter(plugins::name.eq(name)))
            .set((
                plugins::priority.eq(priority),
                plugins::updated_at.eq(now()),
            ))
            .execute(conn)?
            > 0,
    )
}

/// Remove a plugin; false when there is none of that name.
pub fn delete(conn: &mut DbConnection, name: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(plugins::table.filter(plugins::name.eq(name))).execute(conn)? > 0)
}

/// Tell every router that plugin `name` changed, in the caller's transaction.
pub fn announce(conn: &mut DbConnection, name: &str) -> Result<(), StoreError> {
    super::outbox::enqueue_event(
        conn,
        &crate::events::Envelope::new(crate::events::Event::PluginChanged {
            name: name.to_owned(),
        }),
    )
}

/// Install or replace a validated plugin and announce it when anything changed (call inside
/// a transaction). Returns whether it changed.
pub fn install(conn: &mut DbConnection, form: &PluginUpsertForm) -> Result<bool, StoreError> {
    let changed = upsert(conn, form)?;
    if changed {
        announce(conn, &form.name)?;
    }
    Ok(changed)
}
