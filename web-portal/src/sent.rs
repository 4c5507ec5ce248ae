//! A sent message as its sender sees it: the groups it went to, each recipient's state and
//! receipts, and for one still waiting when the next try is (quiet hours hold it, a step
//! waits its delay). The same view feeds the dashboard and the JSON API.

use chrono::{DateTime, Utc};
use hark_core::{
    ids::UserId,
    store::{DbConnection, StoreError, attempts, messages, receipts, users},
};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub(crate) struct ReceiptView {
    pub kind: String,
    pub channel: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct RecipientView {
    pub extension: String,
    pub name: String,
    pub state: String,
    pub channel: Option<String>,
    /// Why delivery failed, in words ("Call my phone: busy"); only for `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// While nothing has reached them yet: when the next try is due and by which channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_try: Option<NextTry>,
    pub receipts: Vec<ReceiptView>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct NextTry {
    pub at: DateTime<Utc>,
    pub channel: String,
}

impl RecipientView {
    /// The newest receipt's kind, or the recipient's state before any receipt.
    pub fn latest(&self) -> &str {
        self.receipts
            .last()
            .map_or(self.state.as_str(), |r| r.kind.as_str())
    }
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct SentView {
    pub id: String,
    pub origin: String,
    pub state: String,
    pub duration_ms: i32,
    pub urgent: bool,
    pub created_at: DateTime<Utc>,
    /// The groups it was sent to, by name ("Sales (200)"); absent for messages to people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
    pub recipients: Vec<RecipientView>,
}

pub(crate) fn summarize(
    c: &mut DbConnection,
    m: &messages::Message,
) -> Result<SentView, StoreError> {
    let id = m.message_id();
    let all_receipts = receipts::list_for_message(c, &id)?;
    let seats = messages::list_recipients(c, &id)?;
    // Attempts are read only for a message someone still waits for (most have none).
    let waiting = if seats.iter().any(|r| r.state == "queued") {
        attempts::list_attempts(c, &id)?
    } else {
        Vec::new()
    };
    let mut recipients = Vec::new();
    for r in seats {
        let user = users::find_by_id(c, &UserId::from(r.recipient_id.as_str()))?;
        let (extension, name) = user
            .map(|u| (u.extension, u.display_name))
            .unwrap_or_default();
        let receipts = all_receipts
            .iter()
            .filter(|x| x.recipient_id == r.recipient_id)
            .map(|x| ReceiptView {
                kind: x.kind.clone(),
                channel: x.channel.clone(),
                at: x.created_at.and_utc(),
            })
            .collect();
        let next_try = waiting
            .iter()
            .filter(|a| {
                r.state == "queued" && a.recipient_id == r.recipient_id && a.state == "pending"
            })
            .min_by_key(|a| a.due_at)
            .map(|a| NextTry {
                at: a.due_at.and_utc(),
                channel: a.channel.clone(),
            });
        recipients.push(RecipientView {
            extension,
            name,
            next_try,
            reason: r.reason.filter(|_| r.state == "failed"),
            state: r.state,
            channel: r.channel,
            receipts,
        });
    }
    Ok(SentView {
        id: m.id.clone(),
        origin: m.origin.clone(),
        state: m.state.clone(),
        duration_ms: m.duration_ms,
        urgent: m.urgent,
        created_at: m.created_at.and_utc(),
        sent_to: m.sent_to.clone(),
        recipients,
    })
}

/// `user`'s latest `limit` sent messages, newest first.
pub(crate) fn list(
    c: &mut DbConnection,
    user: &UserId,
    limit: i64,
) -> Result<Vec<SentView>, StoreError> {
    messages::list_sent(c, user, limit)?
        .iter()
        .map(|m| summarize(c, m))
        .collect()
}
