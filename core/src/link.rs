//! Signed, expiring links that let an e-mail recipient play one message without logging in.
//!
//! A token is `base64url(claims) "." base64url(HMAC-SHA256(secret, claims))`, where the claims
//! are the message id, the recipient id and the expiry (Unix seconds). Verification checks the
//! MAC in constant time before reading anything, then the expiry.

use crate::ids::{MessageId, UserId};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// What a link grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenClaim {
    pub message_id: MessageId,
    pub recipient_id: UserId,
    pub expires_at: i64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

impl LinkSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length.
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    pub fn sign(&self, claim: &ListenClaim) -> String {
        let body = format!(
            "{}|{}|{}",
            claim.message_id, claim.recipient_id, claim.expires_at
        );
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(body),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<ListenClaim, LinkError> {
        let (body_b64, tag_b64) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let body = URL_SAFE_NO_PAD
            .decode(body_b64)
            .map_err(|_| LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| LinkError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&body);
        mac.verify_slice(&tag)
            .map_err(|_| LinkError::BadSignature)?;
        let body = String::from_utf8(body).map_err(|_| LinkError::Malformed)?;
        let mut parts = body.split('|');
        let (Some(m), Some(r), Some(exp), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let expires_at: i64 = exp.parse().map_err(|_| LinkError::Malformed)?;
        if now.timestamp() >= expires_at {
            return Err(LinkError::Expired);
        }
        Ok(ListenClaim {
            message_id: MessageId::from(m),
            recipient_id: UserId::from(r),
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(expires_at: i64) -> ListenClaim {
        ListenClaim {
            message_id: MessageId::from("m1"),
            recipient_id: UserId::from("u2"),
            expires_at,
        }
    }

    #[test]
    fn signed_links_verify_until_they_expire() {
        let s = LinkSigner::new(b"secret");
        let now = Utc::now();
        let t = s.sign(&claim(now.timestamp() + 60));
        assert_eq!(s.verify(&t, now).unwrap(), claim(now.timestamp() + 60));
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(s.verify(&t, later), Err(LinkError::Expired));
    }

    #[test]
    fn tampering_is_detected() {
        let s = LinkSigner::new(b"secret");
        let now = Utc::now();
        let t = s.sign(&claim(now.timestamp() + 60));
        // Point the same signature at another recipient.
        let forged_body = URL_SAFE_NO_PAD.encode(format!("m1|u3|{}", now.timestamp() + 60));
        let forged = format!("{forged_body}.{}", t.split_once('.').unwrap().1);
        assert_eq!(s.verify(&forged, now), Err(LinkError::BadSignature));
        assert_eq!(
            LinkSigner::new(b"other").verify(&t, now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(s.verify("garbage", now), Err(LinkError::Malformed));
        assert_eq!(s.verify("a.b.c", now), Err(LinkError::Malformed));
    }
}
