//! Login sessions and API tokens. The token is shown once; only its SHA-256 is stored, so a
//! leaked database does not leak working tokens.

use super::{
    DbConnection, StoreError, now,
    schema::{sessions, users},
    users::User,
};
use crate::ids::UserId;
use base64::Engine as _;
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Start a session; returns the token to hand to the client.
pub fn create(
    conn: &mut DbConnection,
    user: &UserId,
    kind: &'static str,
    ttl: chrono::Duration,
) -> Result<String, StoreError> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let at = now();
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(hash(&token)),
            sessions::user_id.eq(user.as_str()),
            sessions::kind.eq(kind),
            sessions::created_at.eq(at),
            sessions::expires_at.eq(at + ttl),
        ))
        .execute(conn)?;
    Ok(token)
}

/// The user a live token belongs to.
pub fn find_user_by_token(
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<User>, StoreError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(hash(token)))
        .filter(sessions::expires_at.gt(now()))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn delete(conn: &mut DbConnection, token: &str) -> Result<(), StoreError> {
    diesel::delete(sessions::table.find(hash(token))).execute(conn)?;
    Ok(())
}
