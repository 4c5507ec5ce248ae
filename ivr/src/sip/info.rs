//! In-dialog INFO carrying key presses (`application/dtmf-relay`, `application/dtmf`), as a
//! dialog usage registered before the INVITE usage. ezk answers an INFO no usage takes with
//! 404; here each gets 200 and its digit goes to the call, or 415 when the body is not one
//! of the DTMF formats.

use crate::media::dtmf;
use ezk_sip_core::{Endpoint, IncomingRequest, MayTake};
use ezk_sip_types::{Method, Name, StatusCode};
use ezk_sip_ua::dialog::Usage;
use tokio::sync::mpsc;

pub struct InfoUsage {
    pub digits: mpsc::Sender<char>,
}

impl std::fmt::Debug for InfoUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfoUsage").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Usage for InfoUsage {
    fn name(&self) -> &'static str {
        "hark-info-dtmf"
    }

    async fn receive(&self, endpoint: &Endpoint, request: MayTake<'_, IncomingRequest>) {
        if request.line.method != Method::INFO {
            return;
        }
        let mut info = request.take();
        let content_type = info
            .headers
            .get_raw(&Name::CONTENT_TYPE)
            .next()
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&info.body);
        let digit = dtmf::parse_info(&content_type, &body);
        let code = if digit.is_some() {
            StatusCode::OK
        } else {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        };
        let tsx = endpoint.create_server_tsx(&mut info);
        let response = endpoint.create_response(&info, code, None);
        if let Err(e) = tsx.respond(response).await {
            tracing::debug!(error = ?e, "could not answer INFO");
        }
        if let Some(d) = digit {
            // A call that has ended no longer listens; nothing to do then.
            let _ = self.digits.try_send(d);
        }
    }
}
