//! A stored recording over HTTP, for the e-mailed link and the portal's players alike: range
//! requests (players seek and browsers fetch in pieces), 416 for a range past the end, and no
//! caching, since every address that serves audio is private to someone.

use crate::page::private;
use actix_web::{HttpRequest, HttpResponse, http::header};

/// What a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Range {
    Whole,
    Part(usize, usize),
    Unsatisfiable,
}

impl Range {
    /// Whether this request plays from the start: that is what counts as hearing a message.
    pub fn plays_from_start(&self) -> bool {
        matches!(self, Range::Whole | Range::Part(0, _))
    }
}

/// `bytes=START-[END]` or `bytes=-SUFFIX`; several ranges, or another unit, are served whole
/// (RFC 9110 lets a server ignore them).
pub(crate) fn parse_range(req: &HttpRequest, len: usize) -> Range {
    let Some(spec) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
    else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Range::Unsatisfiable;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = if a.is_empty() {
        // The last N bytes.
        b.parse::<usize>()
            .ok()
            .filter(|&n| n > 0 && len > 0)
            .map(|n| (len.saturating_sub(n), len - 1))
    } else {
        a.parse::<usize>().ok().and_then(|start| {
            let end = if b.is_empty() {
                len.checked_sub(1)?
            } else {
                b.parse::<usize>().ok()?.min(len.checked_sub(1)?)
            };
            Some((start, end))
        })
    };
    match parsed {
        Some((start, end)) if start <= end && start < len => Range::Part(start, end),
        _ => Range::Unsatisfiable,
    }
}

/// Serve `bytes` (of `content_type`) as `range` asks.
pub(crate) fn respond(range: Range, bytes: Vec<u8>, content_type: &str) -> HttpResponse {
    let total = bytes.len();
    let (mut b, body) = match range {
        Range::Unsatisfiable => {
            return private(HttpResponse::RangeNotSatisfiable())
                .insert_header((header::CONTENT_RANGE, format!("bytes */{total}")))
                .finish();
        }
        Range::Part(start, end) => {
            let mut b = private(HttpResponse::PartialContent());
            b.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{total}"),
            ));
            (b, bytes[start..=end].to_vec())
        }
        Range::Whole => (private(HttpResponse::Ok()), bytes),
    };
    b.insert_header((header::ACCEPT_RANGES, "bytes"))
        .content_type(content_type.to_owned())
        .body(body)
}
