//! Digest authentication as a server (RFC 3261 §22, RFC 8760): the challenges a REGISTER or
//! SUBSCRIBE gets, the nonces in them, and checking the `Authorization` a client answers with
//! against a stored HA1 ([`hark_core::digest`]).
//!
//! Nonces are stateless to issue and bound to this process: the time they were issued and a
//! random part, MACed with a key made at start-up. So a nonce cannot be forged, one older
//! than its lifetime (or made before a restart, or by another node) is answered with
//! `stale=true` (the phone retries with the new nonce without asking anyone for the password),
//! and what is remembered is only the nonce count each nonce was last used with: with
//! `qop=auth` each request must raise it, without `qop` a nonce is good once. A captured
//! REGISTER therefore cannot be replayed.

use ezk_sip_types::{
    Headers, Name,
    header::typed::{AlgorithmValue, AuthResponse, QopOption, Username},
};
use hark_core::digest::{self, Algorithm, Qop};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Nonces remembered at most (each a few dozen bytes); past this the expired are dropped, and
/// if all are live the oldest go (their phones get `stale=true` and carry on).
const REMEMBERED: usize = 100_000;

/// What a presented nonce is.
#[derive(Debug, PartialEq, Eq)]
pub enum NonceState {
    /// Made here, within its lifetime.
    Fresh,
    /// Made here but too old, or by another process: ask again with `stale=true`.
    Stale,
    /// Not a nonce of ours at all.
    Forged,
}

/// This process's nonces.
pub struct Nonces {
    key: [u8; 32],
    lifetime: Duration,
    /// Nonce → the highest nonce count used with it (0: used once without `qop`), and when it
    /// was issued (seconds since the epoch).
    used: Mutex<HashMap<String, (u32, u64)>>,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Nonces {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            key: rand::random(),
            lifetime,
            used: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// A new nonce: 16 bytes (issue time, random) and 16 of their MAC, in hex.
    pub fn issue(&self) -> String {
        self.issue_at(now_secs())
    }

    fn issue_at(&self, secs: u64) -> String {
        let mut body = [0u8; 16];
        body[..8].copy_from_slice(&secs.to_be_bytes());
        body[8..].copy_from_slice(&rand::random::<[u8; 8]>());
        let tag = self.mac(&body);
        format!("{}{}", hex::encode(body), hex::encode(&tag[..16]))
    }

    /// Whether `nonce` is one of ours and still within its lifetime.
    pub fn check(&self, nonce: &str) -> NonceState {
        let Ok(bytes) = hex::decode(nonce) else {
            return NonceState::Forged;
        };
        if bytes.len() != 32 {
            return NonceState::Forged;
        }
        let tag = self.mac(&bytes[..16]);
        if !bool::from(tag[..16].ct_eq(&bytes[16..])) {
            // Another process's nonce looks forged to this one: it is answered the same way
            // as a stale one would be, with a fresh challenge (`stale` tells a phone it need
            // not ask for the password; a forged nonce gets no such hint).
            return NonceState::Forged;
        }
        let issued = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        if now_secs().saturating_sub(issued) > self.lifetime.as_secs() {
            NonceState::Stale
        } else {
            NonceState::Fresh
        }
    }

    /// Record a use of fresh `nonce` with nonce count `nc` (`None` without `qop`); false when
    /// it is a replay (a count not above the last one, or a second use without `qop`).
    pub fn first_use(&self, nonce: &str, nc: Option<u32>) -> bool {
        let count = nc.unwrap_or(0);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() >= REMEMBERED && !used.contains_key(nonce) {
            let oldest_kept = now_secs().saturating_sub(self.lifetime.as_secs());
            used.retain(|_, (_, issued)| *issued >= oldest_kept);
            if used.len() >= REMEMBERED {
                // All live: forget the oldest half (their phones get a new challenge).
                let mut issued: Vec<u64> = used.values().map(|(_, at)| *at).collect();
                issued.sort_unstable();
                let cut = issued[issued.len() / 2];
                used.retain(|_, (_, at)| *at > cut);
            }
        }
        match used.get_mut(nonce) {
            Some((last, _)) if nc.is_none() || count <= *last => false,
            Some((last, _)) => {
                *last = count;
                true
            }
            None => {
                let issued = hex::decode(&nonce[..16.min(nonce.len())])
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_be_bytes);
                used.insert(nonce.to_owned(), (count, issued));
                true
            }
        }
    }
}

/// The `WWW-Authenticate` values for a challenge in `realm`, one per algorithm in `offered`
/// (the preferred first, RFC 8760 §2.4), each with `qop="auth"`.
pub fn challenges(offered: &[Algorithm], realm: &str, nonce: &str, stale: bool) -> Vec<String> {
    offered
        .iter()
        .map(|a| {
            format!(
                r#"Digest realm="{realm}", nonce="{nonce}", algorithm={}, qop="auth"{}"#,
                a.name(),
                if stale { ", stale=true" } else { "" }
            )
        })
        .collect()
}

/// What a client presented in `Authorization: Digest …`.
#[derive(Debug, Clone)]
pub struct Presented {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    /// `(nc, cnonce)` with `qop=auth`.
    pub qop: Option<(u32, String)>,
}

/// Why an `Authorization` header is not one Hark can check.
#[derive(Debug, PartialEq, Eq)]
pub enum Unusable {
    /// Not parseable, or not `Digest`.
    Malformed,
    /// An algorithm or `qop` Hark does not offer (`-sess`, `auth-int`, SHA-512-256).
    Unsupported,
}

/// The digest response in `headers` (`None`: there is none). A request with several
/// `Authorization` headers (one per realm) is checked by the first Digest one.
pub fn presented(headers: &Headers) -> Option<Result<Presented, Unusable>> {
    if !headers.contains(&Name::AUTHORIZATION) {
        return None;
    }
    let parsed = match headers.try_get::<Vec<AuthResponse>>(Name::AUTHORIZATION)? {
        Ok(all) => all,
        Err(_) => return Some(Err(Unusable::Malformed)),
    };
    let Some(d) = parsed.into_iter().find_map(|a| match a {
        AuthResponse::Digest(d) => Some(d),
        AuthResponse::Other(_) => None,
    }) else {
        return Some(Err(Unusable::Malformed));
    };
    let algorithm = match &d.algorithm {
        ezk_sip_types::header::typed::Algorithm::AlgorithmValue(AlgorithmValue::MD5) => {
            Algorithm::Md5
        }
        ezk_sip_types::header::typed::Algorithm::AlgorithmValue(AlgorithmValue::SHA256) => {
            Algorithm::Sha256
        }
        _ => return Some(Err(Unusable::Unsupported)),
    };
    let qop = match &d.qop_response {
        None => None,
        Some(q) if q.qop == QopOption::Auth => Some((q.nc, q.cnonce.to_string())),
        Some(_) => return Some(Err(Unusable::Unsupported)),
    };
    let username = match &d.username {
        Username::Username(u) => u.to_string(),
        // RFC 7616's `username*` is for names Hark never issues (they are ASCII).
        Username::UsernameNonASCII(_) => return Some(Err(Unusable::Unsupported)),
    };
    if d.userhash {
        return Some(Err(Unusable::Unsupported));
    }
    Some(Ok(Presented {
        username,
        realm: d.realm.to_string(),
        nonce: d.nonce.to_string(),
        uri: d.uri.to_string(),
        response: d.response.to_ascii_lowercase(),
        algorithm,
        qop,
    }))
}

/// Whether `p` is what a client knowing the password behind `ha1` sends for `method`
/// (compared in constant time).
pub fn verify(p: &Presented, method: &str, ha1: &str) -> bool {
    let qop = p.qop.as_ref().map(|(nc, cnonce)| Qop {
        nc: *nc,
        cnonce: cnonce.as_str(),
    });
    let expected = digest::response(p.algorithm, ha1, &p.nonce, method, &p.uri, qop);
    expected.as_bytes().ct_eq(p.response.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_ours_expire_and_are_used_once() {
        let n = Nonces::new(Duration::from_secs(300));
        let fresh = n.issue();
        assert_eq!(n.check(&fresh), NonceState::Fresh);
        let old = n.issue_at(now_secs() - 301);
        assert_eq!(n.check(&old), NonceState::Stale);
        let mut forged = fresh.clone().into_bytes();
        forged[40] = if forged[40] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            n.check(std::str::from_utf8(&forged).unwrap()),
            NonceState::Forged
        );
        assert_eq!(n.check("zz"), NonceState::Forged);
        assert_eq!(
            Nonces::new(Duration::from_secs(300)).check(&fresh),
            NonceState::Forged,
            "another process's nonce"
        );
        assert!(n.first_use(&fresh, Some(1)));
        assert!(!n.first_use(&fresh, Some(1)), "the same count again");
        assert!(n.first_use(&fresh, Some(2)));
        assert!(!n.first_use(&fresh, None), "qop dropped on a used nonce");
        let bare = n.issue();
        assert!(n.first_use(&bare, None));
        assert!(
            !n.first_use(&bare, None),
            "without qop a nonce is good once"
        );
    }

    #[test]
    fn an_authorization_header_is_read_and_checked() {
        let realm = "hark";
        let ha1 = digest::ha1(Algorithm::Sha256, "102", realm, "secret");
        let nonce = "abc";
        let good = digest::response(
            Algorithm::Sha256,
            &ha1,
            nonce,
            "REGISTER",
            "sip:127.0.0.1",
            Some(Qop {
                nc: 1,
                cnonce: "c1",
            }),
        );
        let mut h = Headers::new();
        h.insert(
            Name::AUTHORIZATION,
            format!(
                r#"Digest username="102", realm="hark", nonce="abc", uri="sip:127.0.0.1", response="{good}", algorithm=SHA-256, cnonce="c1", qop=auth, nc=00000001"#
            ),
        );
        let p = presented(&h).unwrap().unwrap();
        assert_eq!(
            (p.username.as_str(), p.qop.clone()),
            ("102", Some((1, "c1".into())))
        );
        assert!(verify(&p, "REGISTER", &ha1));
        assert!(!verify(&p, "SUBSCRIBE", &ha1), "another method");
        let other = digest::ha1(Algorithm::Sha256, "102", realm, "guess");
        assert!(!verify(&p, "REGISTER", &other));

        let mut sess = Headers::new();
        sess.insert(
            Name::AUTHORIZATION,
            r#"Digest username="102", realm="hark", nonce="abc", uri="sip:h", response="00", algorithm=MD5-sess"#,
        );
        assert_eq!(
            presented(&sess).unwrap().unwrap_err(),
            Unusable::Unsupported
        );
        let mut basic = Headers::new();
        basic.insert(Name::AUTHORIZATION, "Basic MTAyOnNlY3JldA==");
        assert_eq!(presented(&basic).unwrap().unwrap_err(), Unusable::Malformed);
        assert!(presented(&Headers::new()).is_none());
    }

    #[test]
    fn challenges_offer_sha256_first() {
        let c = challenges(&Algorithm::OFFERED, "hark", "n", true);
        assert!(c[0].contains("algorithm=SHA-256") && c[1].contains("algorithm=MD5"));
        assert!(
            c.iter()
                .all(|v| v.contains(r#"qop="auth""#) && v.ends_with("stale=true"))
        );
    }
}
