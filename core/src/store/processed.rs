//! Which events each consumer has handled, so a redelivered event is a no-op.
//!
//! A consumer calls [`mark`] inside the same transaction as its own writes: if the row already
//! exists the event was handled before and the transaction does nothing else.

use super::{DbConnection, StoreError, now, schema::processed_events};
use crate::ids::EventId;
use diesel::prelude::*;

/// Record that `consumer` handled `event`. False when it already had (skip the work).
pub fn mark(conn: &mut DbConnection, consumer: &str, event: &EventId) -> Result<bool, StoreError> {
    let seen = processed_events::table
        .find((consumer, event.as_str()))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if seen {
        return Ok(false);
    }
    diesel::insert_into(processed_events::table)
        .values((
            processed_events::consumer.eq(consumer),
            processed_events::event_id.eq(event.as_str()),
            processed_events::processed_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(true)
}

pub fn is_processed(
    conn: &mut DbConnection,
    consumer: &str,
    event: &EventId,
) -> Result<bool, StoreError> {
    Ok(processed_events::table
        .find((consumer, event.as_str()))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Forget handled events older than `before`: a redelivery that late is not plausible, and
/// the table would otherwise grow forever. Returns how many rows went.
pub fn prune(conn: &mut DbConnection, before: chrono::NaiveDateTime) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(processed_events::table.filter(processed_events::processed_at.lt(before)))
            .execute(conn)?,
    )
}
