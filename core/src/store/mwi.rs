//! Message-waiting (RFC 3842): what a phone's lamp shows — the counts of a person's mailbox —
//! and the `message-summary` subscriptions phones hold to be told of them (RFC 6665 dialogs,
//! kept here so any IVR node can send the NOTIFYs and take the refreshes).

use super::{
    DbConnection, StoreError,
    schema::{message_recipients, messages, mwi_subscriptions, registrations},
};
use crate::ids::UserId;
use diesel::prelude::*;

/// A mailbox as a lamp reports it: messages not heard yet (`new`, including those marked
/// unheard) and heard ones still kept (`old`), urgent ones counted apart as well.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waiting {
    pub new: i64,
    pub old: i64,
    pub urgent_new: i64,
    pub urgent_old: i64,
}

impl Waiting {
    /// The `application/simple-message-summary` body (RFC 3842 §5.2) for `account`.
    pub fn summary(&self, account: &str) -> String {
        format!(
            "Messages-Waiting: {}\r\nMessage-Account: {account}\r\nVoice-Message: {}/{} ({}/{})\r\n",
            if self.new > 0 { "yes" } else { "no" },
            self.new,
            self.old,
            self.urgent_new,
            self.urgent_old,
        )
    }
}

/// `user`'s mailbox counts: complete messages addressed to them and not deleted.
pub fn waiting(conn: &mut DbConnection, user: &UserId) -> Result<Waiting, StoreError> {
    let rows: Vec<(bool, bool, bool)> = message_recipients::table
        .inner_join(messages::table)
        .filter(message_recipients::recipient_id.eq(user.as_str()))
        .filter(message_recipients::deleted_at.is_null())
        .filter(messages::state.eq("complete"))
        .select((
            message_recipients::played_at.is_null(),
            message_recipients::marked_unheard,
            messages::urgent,
        ))
        .load(conn)?;
    let mut w = Waiting::default();
    for (unplayed, marked, urgent) in rows {
        let new = unplayed || marked;
        match (new, urgent) {
            (true, true) => {
                w.new += 1;
                w.urgent_new += 1;
            }
            (true, false) => w.new += 1,
            (false, true) => {
                w.old += 1;
                w.urgent_old += 1;
            }
            (false, false) => w.old += 1,
        }
    }
    Ok(w)
}

/// One phone's `message-summary` subscription: a dialog Hark sends NOTIFYs in.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = mwi_subscriptions)]
pub struct Subscription {
    pub id: String,
    pub device_id: String,
    pub user_id: String,
    pub call_id: String,
    /// The phone's tag (its From tag): the To tag of our NOTIFYs.
    pub their_tag: String,
    /// Hark's tag (the To tag of our 200): the From tag of our NOTIFYs.
    pub our_tag: String,
    /// The phone's URI (its From): our NOTIFYs' To.
    pub their_uri: String,
    /// The URI it subscribed to (its To): our NOTIFYs' From.
    pub our_uri: String,
    /// Where NOTIFYs go (its Contact).
    pub contact: String,
    /// `udp:ip:port` or `tcp:ip:port` the SUBSCRIBE came from.
    pub source: String,
    /// Record-Route of the SUBSCRIBE, comma-separated, when a proxy is in front.
    pub route_set: Option<String>,
    /// The CSeq of the last NOTIFY sent.
    pub cseq: i64,
    pub expires_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

/// Add a new subscription.
pub fn add(conn: &mut DbConnection, s: &Subscription) -> Result<(), StoreError> {
    diesel::insert_into(mwi_subscriptions::table)
        .values(s)
        .execute(conn)?;
    Ok(())
}

/// The live subscription of dialog (`call_id`, `their_tag`, `our_tag`) at `now`.
pub fn find(
    conn: &mut DbConnection,
    call_id: &str,
    their_tag: &str,
    our_tag: &str,
    now: chrono::NaiveDateTime,
) -> Result<Option<Subscription>, StoreError> {
    Ok(mwi_subscriptions::table
        .filter(mwi_subscriptions::call_id.eq(call_id))
        .filter(mwi_subscriptions::their_tag.eq(their_tag))
        .filter(mwi_subscriptions::our_tag.eq(our_tag))
        .filter(mwi_subscriptions::expires_at.gt(now))
        .select(Subscription::as_select())
        .first(conn)
        .optional()?)
}

/// Refresh subscription `id` until `expires_at` (its contact and source as the refresh gave
/// them).
pub fn refresh(
    conn: &mut DbConnection,
    id: &str,
    contact: &str,
    source: &str,
    expires_at: chrono::NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(mwi_subscriptions::table.find(id))
        .set((
            mwi_subscriptions::contact.eq(contact),
            mwi_subscriptions::source.eq(source),
            mwi_subscriptions::expires_at.eq(expires_at),
            mwi_subscriptions::updated_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// End subscription `id`.
pub fn remove(conn: &mut DbConnection, id: &str) -> Result<(), StoreError> {
    diesel::delete(mwi_subscriptions::table.find(id)).execute(conn)?;
    Ok(())
}

/// `user`'s live subscriptions at `now` (of `device` only, when given).
pub fn of_user(
    conn: &mut DbConnection,
    user: &UserId,
    device: Option<&str>,
    now: chrono::NaiveDateTime,
) -> Result<Vec<Subscription>, StoreError> {
    let mut q = mwi_subscriptions::table
        .filter(mwi_subscriptions::user_id.eq(user.as_str()))
        .filter(mwi_subscriptions::expires_at.gt(now))
        .into_boxed();
    if let Some(d) = device {
        q = q.filter(mwi_subscriptions::device_id.eq(d));
    }
    Ok(q.order(mwi_subscriptions::id.asc())
        .select(Subscription::as_select())
        .load(conn)?)
}

/// Take the next CSeq for a NOTIFY in subscription `id` (each NOTIFY one higher, whichever
/// node sends it). None when the subscription is gone.
pub fn next_cseq(conn: &mut DbConnection, id: &str) -> Result<Option<i64>, StoreError> {
    let n = diesel::update(mwi_subscriptions::table.find(id))
        .set(mwi_subscriptions::cseq.eq(mwi_subscriptions::cseq + 1))
        .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(
        mwi_subscriptions::table
            .find(id)
            .select(mwi_subscriptions::cseq)
            .first(conn)?,
    ))
}

/// Every user with a live subscription or a live registration of a device that wants
/// unsolicited NOTIFYs at `now`: whose lamps to set at start-up.
pub fn users_with_lamps(
    conn: &mut DbConnection,
    now: chrono::NaiveDateTime,
) -> Result<Vec<String>, StoreError> {
    use super::schema::devices;
    let mut users: Vec<String> = mwi_subscriptions::table
        .filter(mwi_subscriptions::expires_at.gt(now))
        .select(mwi_subscriptions::user_id)
        .distinct()
        .load(conn)?;
    let unsolicited: Vec<String> = registrations::table
        .inner_join(devices::table)
        .filter(registrations::expires_at.gt(now))
        .filter(devices::mwi_unsolicited.eq(true))
        .select(registrations::user_id)
        .distinct()
        .load(conn)?;
    users.extend(unsolicited);
    users.sort();
    users.dedup();
    Ok(users)
}

/// Delete subscriptions that expired before `now`; how many.
pub fn sweep(conn: &mut DbConnection, now: chrono::NaiveDateTime) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(mwi_subscriptions::table.filter(mwi_subscriptions::expires_at.le(now)))
            .execute(conn)?,
    )
}
