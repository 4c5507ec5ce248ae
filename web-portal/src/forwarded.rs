//! The portal behind a reverse proxy that terminates TLS. `portal.trusted_proxies` names the
//! proxies (by IP) whose `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` are
//! believed; from anyone else the headers are ignored, so a client can forge neither its
//! address (to escape the login limit) nor its scheme. With a trusted proxy:
//!
//! - the client's address is the right-most `X-Forwarded-For` entry that is not itself a
//!   trusted proxy (what each proxy appended; entries further left are the client's word);
//! - a request that reached the proxy over HTTPS gets `Secure` cookies even without
//!   `portal.secure_cookies`;
//! - the WebSocket Origin check compares with the host the browser used (`X-Forwarded-Host`).

use actix_web::HttpRequest;
use std::net::IpAddr;

/// Who is on the other end of a request, as far as it can be believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Client {
    pub ip: IpAddr,
    /// The browser used HTTPS (told by a trusted proxy).
    pub https: bool,
    /// The host the browser asked for.
    pub host: Option<String>,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> impl Iterator<Item = &'a str> {
    req.headers()
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The client of `req`, believing forwarding headers only from `trusted` peers.
pub(crate) fn client(req: &HttpRequest, trusted: &[IpAddr]) -> Client {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let host = || {
        req.headers()
            .get(actix_web::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if !trusted.contains(&peer) {
        return Client {
            ip: peer,
            https: false,
            host: host(),
        };
    }
    let chain: Vec<IpAddr> = header(req, "x-forwarded-for")
        .map_while(|v| v.parse().ok())
        .collect();
    let ip = chain
        .iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .or(chain.first())
        .copied()
        .unwrap_or(peer);
    let https = header(req, "x-forwarded-proto")
        .next()
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let host = header(req, "x-forwarded-host")
        .next()
        .map(str::to_owned)
        .or_else(host);
    Client { ip, https, host }
}

/// `portal.trusted_proxies` as addresses.
pub(crate) fn parse_trusted(list: &[String]) -> Result<Vec<IpAddr>, String> {
    list.iter()
        .map(|s| {
            s.parse()
                .map_err(|_| format!("portal.trusted_proxies: {s:?} is not an IP address"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.2");
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:40000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 198.51.100.7"))
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header(("x-forwarded-host", "hark.example.org"))
            .insert_header(("host", "10.0.0.3:8080"))
            .to_http_request();
        let c = client(&req, &[proxy]);
        assert_eq!(
            c.ip,
            ip("198.51.100.7"),
            "the proxy's entry, not the client's claim"
        );
        assert!(c.https);
        assert_eq!(c.host.as_deref(), Some("hark.example.org"));
        // The same headers from an untrusted peer are ignored.
        let c = client(&req, &[]);
        assert_eq!(c.ip, proxy);
        assert!(!c.https);
        assert_eq!(c.host.as_deref(), Some("10.0.0.3:8080"));
        // Two proxies in a row: the first untrusted from the right.
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:40000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.9, 10.0.0.5"))
            .to_http_request();
        assert_eq!(
            client(&req, &[proxy, ip("10.0.0.5")]).ip,
            ip("198.51.100.9")
        );
        assert!(parse_trusted(&["nonsense".into()]).is_err());
    }
}
