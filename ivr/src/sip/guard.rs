//! The first layer every request meets: limits on what one message and one source may cost
//! the IVR, applied before any transaction, dialog or call is made for it.
//!
//! - a message larger than `max_message_bytes` gets 513 (Message Too Large);
//! - one with more than `max_headers` header fields gets 400, and so does one whose CSeq
//!   names another method than its request line (RFC 3261 §8.1.1.5);
//! - a source (IP address) past `requests_per_source_per_sec`, or past
//!   `invites_per_source_per_sec` for INVITEs, gets 503 with `Retry-After`;
//! - a source past `max_calls_per_source` calls at once gets 503 with `Retry-After` for a new
//!   INVITE (counted by [`Limiter::admit_call`], from the intake layer).
//!
//! These refusals are sent statelessly: a flood costs one response datagram per request and
//! no transaction kept for 32 s. A source that goes on flooding past `refusals_per_sec` gets
//! nothing at all, so Hark is never a reflector. Responses go only to the packet's source:
//! a `maddr` in the top Via (which would send them to any address the sender names) is
//! removed. ACKs are never refused (they make no state, and a 2xx's ACK completes a call).
//!
//! The limits themselves live in [`limits`](super::limits).

use super::limits::{Limiter, Request, Verdict};
use bytesstr::BytesStr;
use ezk_sip_core::{Endpoint, IncomingRequest, Layer, MayTake};
use ezk_sip_types::{Method, StatusCode, header::typed::RetryAfter};
use std::{sync::Arc, time::Instant};

/// What is wrong with a request that ezk's lenient parser let through, by RFC 3261's
/// grammar (RFC 4475 §3.1.2): more than one space between the parts of the request line
/// ("lwsstart"), a Content-Length that is not a number ("ncl"), or an unbalanced quote in
/// From or To ("quotbal"). Each is answered 400 rather than guessed at.
pub fn malformed(buffer: &[u8], headers: &ezk_sip_types::Headers) -> Option<&'static str> {
    use ezk_sip_types::Name;
    let end = buffer
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buffer.len());
    let line = &buffer[..end];
    if line.split(|&b| b == b' ').count() != 3 || line.split(|&b| b == b' ').any(<[u8]>::is_empty) {
        return Some("Malformed Request-Line");
    }
    if headers
        .get_raw(&Name::CONTENT_LENGTH)
        .any(|v| v.trim().parse::<u32>().is_err())
    {
        return Some("Bad Content-Length");
    }
    let unbalanced = |v: &str| {
        let (mut quoted, mut escaped) = (false, false);
        for c in v.chars() {
            match (quoted, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (_, _, '"') => quoted = !quoted,
                _ => {}
            }
        }
        quoted
    };
    if [Name::FROM, Name::TO]
        .iter()
        .any(|n| headers.get_raw(n).any(|v| unbalanced(v)))
    {
        return Some("Unbalanced Quotes");
    }
    None
}

/// The layer.
#[derive(Debug)]
pub struct Guard {
    pub limiter: Arc<Limiter>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

#[async_trait::async_trait]
impl Layer for Guard {
    fn name(&self) -> &'static str {
        "hark-guard"
    }

    async fn receive(&self, endpoint: &Endpoint, mut request: MayTake<'_, IncomingRequest>) {
        // Responses go to where the packet came from, never to an address the sender names.
        if let Some(via) = request.base_headers.via.first_mut() {
            via.params.take("maddr");
        }
        let verdict = self.limiter.check(
            request.tp_info.source,
            &Request {
                method: &request.line.method,
                cseq_method: &request.base_headers.cseq.method,
                bytes: request.tp_info.buffer.len(),
                headers: request.headers.iter().count(),
                malformed: malformed(&request.tp_info.buffer, &request.headers),
            },
            Instant::now(),
        );
        match verdict {
            Verdict::Pass => {}
            Verdict::Drop(reason) => {
                self.metrics.sip_rejected(reason);
                drop(request.take());
            }
            Verdict::Refuse {
                code,
                reason,
                retry_after,
            } => {
                self.metrics.sip_rejected(reason);
                let request = request.take();
                tracing::debug!(source = %request.tp_info.source, code, reason, "refusing a request");
                refuse_statelessly(
                    endpoint,
                    request,
                    StatusCode::from(code),
                    Some(reason),
                    retry_after,
                )
                .await;
            }
        }
    }
}

/// Answer `request` with `code` without a transaction: nothing is kept for it, and a
/// repeat of the request is judged (and answered) again. How Hark answers everything outside
/// a call (OPTIONS, methods it does not serve, INVITEs it refuses), so that no request but an
/// answered call leaves state behind: a flood costs the responses, never memory.
pub async fn refuse_statelessly(
    endpoint: &Endpoint,
    request: IncomingRequest,
    code: StatusCode,
    reason: Option<&'static str>,
    retry_after: Option<u32>,
) {
    answer_statelessly(endpoint, &request, code, reason, |headers| {
        if let Some(secs) = retry_after {
            headers.insert_named(&RetryAfter::new(secs));
        }
    })
    .await;
}

/// Answer `request` with `code` and the headers `add` puts in, without a transaction.
pub async fn answer_statelessly(
    endpoint: &Endpoint,
    request: &IncomingRequest,
    code: StatusCode,
    reason: Option<&'static str>,
    add: impl FnOnce(&mut ezk_sip_types::Headers),
) {
    if request.line.method == Method::ACK {
        return;
    }
    let mut response = endpoint.create_response(request, code, reason.map(BytesStr::from_static));
    add(&mut response.msg.headers);
    if let Err(e) = endpoint.send_outgoing_response(&mut response).await {
        tracing::debug!(error = %e, "could not send a stateless response");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn raw_grammar_faults_are_found() {
        use ezk_sip_types::{Headers, Name};
        let mut h = Headers::new();
        h.insert(Name::FROM, "\"J \\\"R\\\"\" <sip:j@example.com>;tag=1");
        h.insert(Name::CONTENT_LENGTH, "0");
        let ok = b"OPTIONS sip:hark@127.0.0.1 SIP/2.0\r\nVia: x\r\n";
        assert_eq!(malformed(ok, &h), None, "escaped quotes are balanced");
        assert_eq!(
            malformed(b"OPTIONS  sip:hark@127.0.0.1 SIP/2.0\r\n", &h),
            Some("Malformed Request-Line")
        );
        assert_eq!(
            malformed(b"OPTIONS sip:hark@127.0.0.1 SIP/2.0 \r\n", &h),
            Some("Malformed Request-Line")
        );
        let mut bad_length = h.clone();
        bad_length.insert(Name::CONTENT_LENGTH, "-999");
        assert_eq!(malformed(ok, &bad_length), Some("Bad Content-Length"));
        let mut quotes = Headers::new();
        quotes.insert(Name::TO, "\"Mr. J. User <sip:j@example.com>");
        assert_eq!(malformed(ok, &quotes), Some("Unbalanced Quotes"));
    }
}
