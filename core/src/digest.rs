//! SIP digest authentication (RFC 3261 §22, RFC 8760 for SHA-256): the hashes both sides
//! compute. What is stored for a phone's password is its HA1 under each algorithm —
//! `H(username:realm:password)` — never the password: that is as far as the digest scheme
//! lets a server go, since a response is checked against HA1 itself. An HA1 is bound to the
//! realm, so changing `ivr.sip_realm` means setting each phone's password again.

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// A digest algorithm Hark offers and accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RFC 8760's SHA-256, offered first.
    Sha256,
    /// RFC 2617's MD5, which almost every phone speaks.
    Md5,
}

impl Algorithm {
    /// Both, in the order they are offered (RFC 8760 §2.4: the preferred one first).
    pub const OFFERED: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Md5];

    /// The name in `algorithm=`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Md5 => "MD5",
        }
    }

    /// The algorithm `name` names (case-insensitive), if Hark speaks it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::OFFERED
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// `H(data)`, lower-case hex.
    pub fn hash(self, data: &[u8]) -> String {
        match self {
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
            Algorithm::Md5 => hex::encode(Md5::digest(data)),
        }
    }
}

/// `HA1 = H(username:realm:password)`.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash(format!("{username}:{realm}:{password}").as_bytes())
}

/// What a client adds with `qop=auth`: its nonce count (8 hex digits, as sent) and cnonce.
#[derive(Clone, Copy, Debug)]
pub struct Qop<'a> {
    pub nc: u32,
    pub cnonce: &'a str,
}

/// The `response=` a client that knows the password sends: with `qop=auth`,
/// `H(HA1:nonce:nc:cnonce:auth:HA2)`, else `H(HA1:nonce:HA2)`; `HA2 = H(method:uri)`.
pub fn response(
    algorithm: Algorithm,
    ha1: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<Qop<'_>>,
) -> String {
    let ha2 = algorithm.hash(format!("{method}:{uri}").as_bytes());
    let input = match qop {
        Some(q) => format!("{ha1}:{nonce}:{:08x}:{}:auth:{ha2}", q.nc, q.cnonce),
        None => format!("{ha1}:{nonce}:{ha2}"),
    };
    algorithm.hash(input.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1's worked example (an HTTP request; the computation is SIP's).
    #[test]
    fn rfc_7616_examples() {
        let (user, realm, pass) = ("Mufasa", "http-auth@example.org", "Circle of Life");
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let qop = Some(Qop { nc: 1, cnonce });
        let md5 = ha1(Algorithm::Md5, user, realm, pass);
        assert_eq!(
            response(Algorithm::Md5, &md5, nonce, "GET", "/dir/index.html", qop),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha = ha1(Algorithm::Sha256, user, realm, pass);
        assert_eq!(
            response(
                Algorithm::Sha256,
                &sha,
                nonce,
                "GET",
                "/dir/index.html",
                qop
            ),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    /// RFC 2617 §3.5's example, and the form without `qop` that old phones send.
    #[test]
    fn rfc_2617_example_and_no_qop() {
        let h = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(
            response(
                Algorithm::Md5,
                &h,
                "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                "GET",
                "/dir/index.html",
                Some(Qop {
                    nc: 1,
                    cnonce: "0a4f113b"
                })
            ),
            "6629fae49393a05397450978507c4ef1"
        );
        let bare = response(Algorithm::Md5, &h, "n", "REGISTER", "sip:h", None);
        let ha2 = Algorithm::Md5.hash(b"REGISTER:sip:h");
        assert_eq!(bare, Algorithm::Md5.hash(format!("{h}:n:{ha2}").as_bytes()));
    }

    #[test]
    fn names() {
        assert_eq!(Algorithm::from_name("sha-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::from_name("MD5"), Some(Algorithm::Md5));
        assert_eq!(Algorithm::from_name("MD5-sess"), None);
    }
}
