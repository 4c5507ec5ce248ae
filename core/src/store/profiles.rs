//! Delivery profiles: one row per person who has set their rules (see [`crate::profile`]).

use super::{DbConnection, StoreError, now, schema::delivery_profiles};
use crate::{ids::UserId, profile::Profile};
use diesel::prelude::*;

/// `user`'s stored profile, if they have set one.
pub fn find(conn: &mut DbConnection, user: &UserId) -> Result<Option<Profile>, StoreError> {
    let row: Option<(String, Option<String>, String, bool)> = delivery_profiles::table
        .find(user.as_str())
        .select((
            delivery_profiles::channels,
            delivery_profiles::quiet_hours,
            delivery_profiles::sender_rules,
            delivery_profiles::attach_audio,
        ))
        .first(conn)
        .optional()?;
    row.map(|(channels, quiet, senders, attach_audio)| {
        Profile::from_columns(&channels, quiet.as_deref(), &senders)
            .map(|p| Profile { attach_audio, ..p })
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    })
    .transpose()
}

/// Store `profile` for `user`, replacing what was there.
pub fn put(conn: &mut DbConnection, user: &UserId, profile: &Profile) -> Result<(), StoreError> {
    let (channels, quiet, senders) = profile.to_columns();
    let at = now();
    // The same columns either way: updated in place, or inserted with the user's id.
    let fields = (
        delivery_profiles::channels.eq(&channels),
        delivery_profiles::quiet_hours.eq(&quiet),
        delivery_profiles::sender_rules.eq(&senders),
        delivery_profiles::updated_at.eq(at),
        delivery_profiles::attach_audio.eq(profile.attach_audio),
    );
    let changed = diesel::update(delivery_profiles::table.find(user.as_str()))
        .set(fields)
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(delivery_profiles::table)
            .values((delivery_profiles::user_id.eq(user.as_str()), fields))
            .execute(conn)?;
    }
    Ok(())
}
