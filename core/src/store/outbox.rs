//! The outbox table: events and commands written in the same transaction as the state they
//! announce, then relayed to the bus by [`crate::bus::outbox`]. A row leaves the table only
//! after the broker confirmed it, so an accepted change is never announced zero times.

use super::{DbConnection, StoreError, now, schema::outbox};
use crate::{
    bus::Exchange,
    events::{Command, Envelope, Event},
};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Clone, Debug, PartialEq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub seq: i64,
    pub event_id: String,
    pub exchange: String,
    pub routing_key: String,
    pub payload: String,
    pub attempts: i32,
}

fn insert(
    conn: &mut DbConnection,
    event_id: &str,
    exchange: Exchange,
    routing_key: &str,
    payload: String,
) -> Result<(), StoreError> {
    insert_due(conn, event_id, exchange, routing_key, payload, now())
}

fn insert_due(
    conn: &mut DbConnection,
    event_id: &str,
    exchange: Exchange,
    routing_key: &str,
    payload: String,
    due: chrono::NaiveDateTime,
) -> Result<(), StoreError> {
    let at = now();
    diesel::insert_into(outbox::table)
        .values((
            outbox::event_id.eq(event_id),
            outbox::exchange.eq(exchange.base_name()),
            outbox::routing_key.eq(routing_key),
            outbox::payload.eq(payload),
            outbox::created_at.eq(at),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(due),
        ))
        .execute(conn)?;
    Ok(())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Queue an event for `hark.events`.
pub fn enqueue_event(conn: &mut DbConnection, event: &Envelope<Event>) -> Result<(), StoreError> {
    let key = event.body.routing_key();
    insert(
        conn,
        event.id.as_str(),
        Exchange::Events,
        &key,
        to_json(event)?,
    )
}

/// Queue a command for `hark.commands`.
pub fn enqueue_command(
    conn: &mut DbConnection,
    command: &Envelope<Command>,
) -> Result<(), StoreError> {
    let key = command.body.routing_key();
    insert(
        conn,
        command.id.as_str(),
        Exchange::Commands,
        key,
        to_json(command)?,
    )
}

/// Queue a command for `hark.commands`, to be published no sooner than `due` (a retry after
/// a back-off).
pub fn enqueue_command_at(
    conn: &mut DbConnection,
    command: &Envelope<Command>,
    due: chrono::NaiveDateTime,
) -> Result<(), StoreError> {
    let key = command.body.routing_key();
    insert_due(
        conn,
        command.id.as_str(),
        Exchange::Commands,
        key,
        to_json(command)?,
        due,
    )
}

/// Queue several commands for `hark.commands` (one statement on PostgreSQL).
pub fn enqueue_commands(
    conn: &mut DbConnection,
    commands: &[Envelope<Command>],
) -> Result<(), StoreError> {
    let at = now();
    let mut rows = Vec::with_capacity(commands.len());
    for command in commands {
        rows.push((
            outbox::event_id.eq(command.id.as_str()),
            outbox::exchange.eq(Exchange::Commands.base_name()),
            outbox::routing_key.eq(command.body.routing_key()),
            outbox::payload.eq(to_json(command)?),
            outbox::created_at.eq(at),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(at),
        ));
    }
    match conn {
        DbConnection::Postgresql(pg) if !rows.is_empty() => {
            diesel::insert_into(outbox::table)
                .values(&rows)
                .execute(pg)?;
        }
        DbConnection::Postgresql(_) => {}
        DbConnection::Sqlite(sqlite) => {
            for row in rows {
                diesel::insert_into(outbox::table)
                    .values(row)
                    .execute(sqlite)?;
            }
        }
    }
    Ok(())
}

/// Lease up to `limit` due rows until `lease_until`, oldest first. On PostgreSQL rows another
/// relay holds are skipped (`FOR UPDATE SKIP LOCKED`); SQLite has one writer at a time.
pub fn claim_due(
    conn: &mut DbConnection,
    limit: i64,
    lease_until: NaiveDateTime,
) -> Result<Vec<OutboxRow>, StoreError> {
    use diesel::sql_types::{BigInt, Timestamp};
    const RETURNING: &str = "RETURNING seq, event_id, exchange, routing_key, payload, attempts";
    let rows = match conn {
        DbConnection::Postgresql(c) => diesel::sql_query(format!(
            "UPDATE outbox SET next_attempt_at = $1, attempts = attempts + 1 \
             WHERE seq IN (SELECT seq FROM outbox WHERE next_attempt_at <= $2 \
             ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) {RETURNING}"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now())
        .bind::<BigInt, _>(limit)
        .load::<OutboxRow>(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1 \
             WHERE seq IN (SELECT seq FROM outbox WHERE next_attempt_at <= ? \
             ORDER BY seq LIMIT ?) {RETURNING}"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now())
        .bind::<BigInt, _>(limit)
        .load::<OutboxRow>(c)?,
    };
    let mut rows = rows;
    rows.sort_by_key(|r| r.seq);
    Ok(rows)
}

/// The broker confirmed it: forget the row.
pub fn delete(conn: &mut DbConnection, seq: i64) -> Result<(), StoreError> {
    diesel::delete(outbox::table.find(seq)).execute(conn)?;
    Ok(())
}

/// The broker confirmed these: forget them.
pub fn delete_many(conn: &mut DbConnection, seqs: &[i64]) -> Result<(), StoreError> {
    diesel::delete(outbox::table.filter(outbox::seq.eq_any(seqs))).execute(conn)?;
    Ok(())
}

/// Publishing failed: try again at `retry_at`, remembering why.
pub fn defer(
    conn: &mut DbConnection,
    seq: i64,
    error: &str,
    retry_at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(outbox::table.find(seq))
        .set((
            outbox::last_error.eq(error),
            outbox::next_attempt_at.eq(retry_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Rows waiting to be relayed; for health pages and tests.
pub fn count(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(outbox::table.count().get_result(conn)?)
}

/// What an admin sees of a message waiting to be published.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct PendingRow {
    pub seq: i64,
    pub routing_key: String,
    pub created_at: chrono::NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: chrono::NaiveDateTime,
}

/// The oldest `limit` rows still waiting.
pub fn list_pending(conn: &mut DbConnection, limit: i64) -> Result<Vec<PendingRow>, StoreError> {
    Ok(outbox::table
        .order(outbox::seq.asc())
        .limit(limit)
        .select(PendingRow::as_select())
        .load(conn)?)
}
