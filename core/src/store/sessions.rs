//! Login sessions and API tokens. The token is shown once; only its SHA-256 is stored, so a
//! leaked database does not leak working tokens.
//!
//! Kinds: `web` (the portal's session cookie, with its CSRF token) and `api`: either from
//! `POST /api/v1/login` (short-lived, unnamed) or a named API token a person made in the
//! portal for a script or an alerting system (revocable, long-lived, and scoped: see
//! [`SCOPES`]). A disabled account's tokens stop working at once.

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

/// What an API token may be allowed: `read` (look: my inbox, sent messages and receipts,
/// presence, contacts, groups), `send` (change: upload messages, mark, delete, set presence,
/// contacts and groups) and `admin` (the administration API; only an admin's token has any
/// use for it, and the portal offers it to admins only). Tokens from `POST /api/v1/login`
/// have all three.
pub const SCOPES: [&str; 3] = ["send", "read", "admin"];

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 32 random bytes, URL-safe.
pub fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn insert(
    conn: &mut DbConnection,
    user: &UserId,
    kind: &'static str,
    ttl: chrono::Duration,
    csrf: Option<&str>,
    name: Option<&str>,
    scopes: &str,
) -> Result<String, StoreError> {
    let token = random_token();
    let at = now();
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(hash(&token)),
            sessions::user_id.eq(user.as_str()),
            sessions::kind.eq(kind),
            sessions::csrf_token.eq(csrf),
            sessions::name.eq(name),
            sessions::created_at.eq(at),
            sessions::expires_at.eq(at + ttl),
            sessions::scopes.eq(scopes),
        ))
        .execute(conn)?;
    Ok(token)
}

/// Start a session; returns the token to hand to the client.
pub fn create(
    conn: &mut DbConnection,
    user: &UserId,
    kind: &'static str,
    ttl: chrono::Duration,
) -> Result<String, StoreError> {
    insert(conn, user, kind, ttl, None, None, &SCOPES.join(" "))
}

/// Start a portal session: (cookie token, CSRF token).
pub fn create_web(
    conn: &mut DbConnection,
    user: &UserId,
    ttl: chrono::Duration,
) -> Result<(String, String), StoreError> {
    let csrf = random_token();
    let token = insert(conn, user, "web", ttl, Some(&csrf), None, "")?;
    Ok((token, csrf))
}

/// A named API token for scripts and event sources; shown once.
pub fn create_api_token(
    conn: &mut DbConnection,
    user: &UserId,
    name: &str,
    ttl: chrono::Duration,
) -> Result<String, StoreError> {
    create_scoped_api_token(conn, user, name, ttl, &SCOPES)
}

/// A named API token allowed only `scopes` (a subset of [`SCOPES`]; others are dropped).
pub fn create_scoped_api_token(
    conn: &mut DbConnection,
    user: &UserId,
    name: &str,
    ttl: chrono::Duration,
    scopes: &[&str],
) -> Result<String, StoreError> {
    let scopes: Vec<&str> = SCOPES.into_iter().filter(|s| scopes.contains(s)).collect();
    insert(conn, user, "api", ttl, None, Some(name), &scopes.join(" "))
}

/// The user a live API credential belongs to; none for a disabled account.
pub fn find_user_by_token(
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<User>, StoreError> {
    Ok(find_api_credential(conn, token)?.map(|(u, _)| u))
}

/// The user a live API credential belongs to and its scopes (space-separated); none for a
/// disabled account.
pub fn find_api_credential(
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<(User, String)>, StoreError> {
    let h = hash(token);
    let at = now();
    let found = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(&h))
        .filter(sessions::kind.eq("api"))
        .filter(sessions::expires_at.gt(at))
        .filter(users::disabled_at.is_null())
        .select((User::as_select(), sessions::scopes))
        .first(conn)
        .optional()?;
    if found.is_some() {
        // At most one write every few minutes per token, so busy scripts cost no writes.
        let stale = at - chrono::Duration::minutes(5);
        diesel::update(
            sessions::table.find(&h).filter(
                sessions::last_used_at
                    .is_null()
                    .or(sessions::last_used_at.lt(stale)),
            ),
        )
        .set(sessions::last_used_at.eq(Some(at)))
        .execute(conn)?;
    }
    Ok(found)
}

/// The user and CSRF token of a live portal session; none for a disabled account.
pub fn find_web(
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<(User, String)>, StoreError> {
    let row: Option<(User, Option<String>)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(hash(token)))
        .filter(sessions::kind.eq("web"))
        .filter(sessions::expires_at.gt(now()))
        .filter(users::disabled_at.is_null())
        .select((User::as_select(), sessions::csrf_token))
        .first(conn)
        .optional()?;
    Ok(row.map(|(u, csrf)| (u, csrf.unwrap_or_default())))
}

/// Longest notice kept for a session's next page.
const FLASH_MAX: usize = 500;

/// Keep `text` for the next page the web session `token` shows (replacing one not yet shown).
pub fn set_flash(conn: &mut DbConnection, token: &str, text: &str) -> Result<(), StoreError> {
    let text: String = text.chars().take(FLASH_MAX).collect();
    diesel::update(sessions::table.find(hash(token)))
        .set(sessions::flash.eq(Some(text)))
        .execute(conn)?;
    Ok(())
}

/// The notice kept for the web session `token`'s next page, forgotten as it is handed out.
pub fn take_flash(conn: &mut DbConnection, token: &str) -> Result<Option<String>, StoreError> {
    let flash: Option<Option<String>> = sessions::table
        .find(hash(token))
        .select(sessions::flash)
        .first(conn)
        .optional()?;
    let flash = flash.flatten();
    if flash.is_some() {
        diesel::update(sessions::table.find(hash(token)))
            .set(sessions::flash.eq(None::<String>))
            .execute(conn)?;
    }
    Ok(flash)
}

/// One of someone's named API tokens, as they see it (never the token itself).
#[derive(Clone, Debug, PartialEq, Queryable)]
pub struct ApiToken {
    /// The stored hash's first characters: enough to tell tokens apart and revoke one.
    pub id: String,
    pub name: Option<String>,
    pub created_at: chrono::NaiveDateTime,
    pub expires_at: chrono::NaiveDateTime,
    pub last_used_at: Option<chrono::NaiveDateTime>,
    /// What it may do, space-separated.
    pub scopes: String,
}

pub fn list_api_tokens(
    conn: &mut DbConnection,
    user: &UserId,
) -> Result<Vec<ApiToken>, StoreError> {
    let rows: Vec<ApiToken> = sessions::table
        .filter(sessions::user_id.eq(user.as_str()))
        .filter(sessions::kind.eq("api"))
        .filter(sessions::name.is_not_null())
        .filter(sessions::expires_at.gt(now()))
        .order(sessions::created_at.desc())
        .select((
            sessions::token_hash,
            sessions::name,
            sessions::created_at,
            sessions::expires_at,
            sessions::last_used_at,
            sessions::scopes,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|mut t| {
            t.id.truncate(16);
            t
        })
        .collect())
}

/// Revoke one of `user`'s API tokens by its listed id. False when there was none.
pub fn revoke_api_token(
    conn: &mut DbConnection,
    user: &UserId,
    id: &str,
) -> Result<bool, StoreError> {
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(false);
    }
    let n = diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user.as_str()))
            .filter(sessions::kind.eq("api"))
            .filter(sessions::name.is_not_null())
            .filter(sessions::token_hash.like(format!("{id}%"))),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// End `user`'s sessions and tokens, all of them or all but the session `keep`.
pub fn delete_for_user(
    conn: &mut DbConnection,
    user: &UserId,
    keep: Option<&str>,
) -> Result<usize, StoreError> {
    let keep = keep.map(hash).unwrap_or_default();
    Ok(diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user.as_str()))
            .filter(sessions::token_hash.ne(keep)),
    )
    .execute(conn)?)
}

/// Forget expired sessions and tokens.
pub fn prune_expired(conn: &mut DbConnection) -> Result<usize, StoreError> {
    Ok(diesel::delete(sessions::table.filter(sessions::expires_at.le(now()))).execute(conn)?)
}

pub fn delete(conn: &mut DbConnection, token: &str) -> Result<(), StoreError> {
    diesel::delete(sessions::table.find(hash(token))).execute(conn)?;
    Ok(())
}
