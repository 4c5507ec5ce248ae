//! Delivery profiles: one row per person who has set their rules (see [`crate::profile`]).

use super::{DbConnection, StoreError, now, schema::delivery_profiles};
use crate::{ids::UserId, profile::Profile};
use diesel::prelude::*;

/// The stored columns: (channels, quiet hours, sender rules).
pub type Columns = (String, Option<String>, String);

/// `user`'s stored profile columns, if they have set any.
pub fn find(conn: &mut DbConnection, user: &UserId) -> Result<Option<Columns>, StoreError> {
    Ok(delivery_profiles::table
        .find(user.as_str())
        .select((
            delivery_profiles::channels,
            delivery_profiles::quiet_hours,
            delivery_profiles::sender_rules,
        ))
        .first(conn)
        .optional()?)
}

/// Store `profile` for `user`, replacing what was there.
pub fn put(conn: &mut DbConnection, user: &UserId, profile: &Profile) -> Result<(), StoreError> {
    let (channels, quiet, senders) = profile.to_columns();
    let at = now();
    let changed = diesel::update(delivery_profiles::table.find(user.as_str()))
        .set((
            delivery_profiles::channels.eq(&channels),
            delivery_profiles::quiet_hours.eq(&quiet),
            delivery_profiles::sender_rules.eq(&senders),
            delivery_profiles::updated_at.eq(at),
        ))
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(delivery_profiles::table)
            .values((
                delivery_profiles::user_id.eq(user.as_str()),
                delivery_profiles::channels.eq(&channels),
                delivery_profiles::quiet_hours.eq(&quiet),
                delivery_profiles::sender_rules.eq(&senders),
                delivery_profiles::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}
