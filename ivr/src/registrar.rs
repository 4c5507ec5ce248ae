//! The registrar (RFC 3261 §10): a phone device with SIP credentials REGISTERs its contacts
//! here, authenticated by digest ([`sip::digest`]: SHA-256 and MD5, `qop=auth`, nonces that
//! expire and cannot be replayed), and the bindings go to the store, where every IVR node
//! finds them.
//!
//! - Who the phone is, and refusing guessers, is [`crate::phone_auth`]'s.
//! - The address of record is the device's SIP username: `To: <sip:102@…>` with
//!   `username="102"`; another one is refused (403), so nobody registers for someone else.
//! - Each contact's expiry is its `expires` parameter, else `Expires:`, else the maximum;
//!   one under `ivr.register_min_secs` gets 423 with `Min-Expires`, one over
//!   `ivr.register_max_secs` is shortened; `expires=0` removes it, `Contact: *` with
//!   `Expires: 0` removes them all. The 200 lists every live binding with its expiry.
//! - The source address and transport are kept beside the contact (a phone behind NAT is
//!   reached where its REGISTER came from); `Path` headers from a proxy in front are kept and
//!   echoed (RFC 3327).
//! - Answers are sent without a transaction (see [`Registrar::answer`]).

use crate::{Ivr, phone_auth::Checked, sip};
use ezk_sip_core::{Endpoint, IncomingRequest, transport::OutgoingResponse};
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::{
    Name, StatusCode,
    header::typed::{Contact, Expires},
};
use hark_core::ids::UserId;
use hark_core::store::{
    self, devices, mwi,
    registrations::{self, Change, Refusal, Registration},
};
use std::{sync::Arc, time::Duration};

/// A REGISTER's answer, and whose phone it registered when it did.
enum Answer {
    Registered(OutgoingResponse, devices::SipAccount),
    Other(OutgoingResponse),
}

/// The registrar of one IVR node.
#[derive(Debug)]
pub struct Registrar {
    ivr: Arc<Ivr>,
}

impl Registrar {
    pub fn new(ivr: Arc<Ivr>) -> Self {
        Self { ivr }
    }

    /// Answer one REGISTER, without a transaction: as for everything outside a call, a flood
    /// keeps nothing (ARCHITECTURE.md), and this is what Kamailio's registrar does. A
    /// retransmission is worked out again; one whose 200 was lost meets its own nonce count
    /// as a replay and is challenged, and the phone answers that with the next count.
    async fn answer(&self, endpoint: Endpoint, request: IncomingRequest) {
        let (mut response, registered) = match self.respond(&endpoint, &request).await {
            Answer::Registered(ok, account) => (ok, Some(account)),
            Answer::Other(r) => (r, None),
        };
        self.ivr.metrics.registered(response.msg.line.code);
        if let Err(e) = endpoint.send_outgoing_response(&mut response).await {
            tracing::debug!(error = %e, "could not answer REGISTER");
        }
        // Every registration sets the phone's lamp again: a phone that restarted or lost it
        // shows the right state at once.
        if let Some(account) = registered {
            crate::mwi::set_lamps(
                &self.ivr,
                &endpoint,
                &UserId::from(account.user_id.as_str()),
                Some(&account.device_id),
            )
            .await;
        }
    }

    async fn respond(&self, endpoint: &Endpoint, request: &IncomingRequest) -> Answer {
        let refuse = |code: StatusCode, reason: &'static str| {
            Answer::Other(endpoint.create_response(request, code, Some(reason.into())))
        };
        let Some(aor) = sip::user_part(&request.base_headers.to.uri.uri.user_part) else {
            return refuse(StatusCode::BAD_REQUEST, "No user in To");
        };
        let account = match self.ivr.phones.check(request, "REGISTER").await {
            Checked::Authenticated(a) => a,
            Checked::Challenge { stale } => {
                return Answer::Other(self.ivr.phones.challenge(endpoint, request, stale));
            }
            Checked::Refused(code, reason) => return refuse(code, reason),
        };
        if account.sip_username.as_deref() != Some(aor.as_str()) {
            return refuse(StatusCode::FORBIDDEN, "Not your address of record");
        }
        let mut subscribed = false;
        let response = self
            .bind(endpoint, request, &account, &mut subscribed)
            .await;
        // Only a phone with a lamp to set costs more than the registration itself.
        if response.msg.line.code == StatusCode::OK && (subscribed || account.mwi_unsolicited) {
            Answer::Registered(response, account)
        } else {
            Answer::Other(response)
        }
    }

    /// The authenticated REGISTER's contacts, applied.
    async fn bind(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
        account: &devices::SipAccount,
        subscribed: &mut bool,
    ) -> OutgoingResponse {
        let refuse = |code: StatusCode, reason: &'static str| {
            endpoint.create_response(request, code, Some(reason.into()))
        };
        let config = &self.ivr.config;
        let (min, max) = (
            config.register_min_secs,
            config.register_max_secs.max(config.register_min_secs),
        );
        let expires_header = match request.headers.try_get_named::<Expires>() {
            None => None,
            Some(Ok(Expires(e))) => Some(e),
            Some(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "Malformed Expires"),
        };
        let wildcard = request
            .headers
            .get_raw(&Name::CONTACT)
            .any(|v| v.trim() == "*");
        let contacts: Vec<Contact> = if wildcard {
            Vec::new()
        } else {
            match request.headers.try_get_named::<Vec<Contact>>() {
                None => Vec::new(),
                Some(Ok(c)) => c,
                Some(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "Malformed Contact"),
            }
        };
        let now = store::now();
        let source = sip::source_text(request);
        let path: Vec<String> = request
            .headers
            .get_raw(&Name::custom("Path", &["path"]))
            .map(|v| v.to_string())
            .collect();
        let user_agent = request
            .headers
            .get_raw(&Name::USER_AGENT)
            .next()
            .map(|v| v.chars().take(200).collect::<String>());
        let call_id = request.base_headers.call_id.0.to_string();
        let cseq = i64::from(request.base_headers.cseq.cseq);
        let mut changes = Vec::new();
        for c in &contacts {
            let asked = match c.params.get_val("expires") {
                Some(v) => match v.parse::<u32>() {
                    Ok(e) => e,
                    Err(_) => return refuse(StatusCode::BAD_REQUEST, "Malformed expires"),
                },
                None => expires_header.unwrap_or(max),
            };
            let uri = c.uri.uri.default_print_ctx().to_string();
            if asked == 0 {
                changes.push(Change::Unbind { contact: uri });
                continue;
            }
            if asked < min {
                let mut r = refuse(StatusCode::INTERVAL_TOO_BRIEF, "Interval Too Brief");
                r.msg.headers.insert(Name::MIN_EXPIRES, min.to_string());
                return r;
            }
            changes.push(Change::Bind(Registration {
                device_id: account.device_id.clone(),
                contact: uri,
                user_id: account.user_id.clone(),
                source: source.clone(),
                path: (!path.is_empty()).then(|| path.join(", ")),
                call_id: call_id.clone(),
                cseq,
                node_id: self.ivr.deps.node_id.clone(),
                user_agent: user_agent.clone(),
                expires_at: now + chrono::Duration::seconds(i64::from(asked.min(max))),
                updated_at: now,
            }));
        }
        if wildcard && expires_header != Some(0) {
            return refuse(StatusCode::BAD_REQUEST, "Contact * needs Expires: 0");
        }
        let device = account.device_id.clone();
        let user = UserId::from(account.user_id.as_str());
        let applied = self
            .ivr
            .deps
            .store
            .transaction(move |c| {
                // Whether the phone holds a lamp subscription (set again after this).
                let lamp = !mwi::of_user(c, &user, Some(&device), now)?.is_empty();
                if wildcard {
                    registrations::unbind_all(c, &device)?;
                    return Ok(Ok((Vec::new(), lamp)));
                }
                Ok(
                    registrations::apply(c, &device, &call_id, cseq, changes, now)?
                        .map(|b| (b, lamp)),
                )
            })
            .await;
        let bindings = match applied {
            Ok(Ok((b, lamp))) => {
                *subscribed = lamp;
                b
            }
            Ok(Err(Refusal::OutOfOrder)) => {
                return refuse(StatusCode::SERVER_INTERNAL_ERROR, "Out of order");
            }
            Err(e) => {
                tracing::error!(error = %e, "registrar: cannot store the bindings");
                return refuse(StatusCode::SERVER_INTERNAL_ERROR, "Store unavailable");
            }
        };
        tracing::info!(
            username = account.sip_username.as_deref().unwrap_or_default(),
            source = %request.tp_info.source,
            contacts = bindings.len(),
            "phone registered"
        );
        let mut ok = endpoint.create_response(request, StatusCode::OK, None);
        for b in &bindings {
            let left = (b.expires_at - now).num_seconds().max(0);
            ok.msg
                .headers
                .insert(Name::CONTACT, format!("<{}>;expires={left}", b.contact));
        }
        for p in path {
            ok.msg.headers.insert(Name::custom("Path", &["path"]), p);
        }
        ok
    }
}

impl sip::PhoneHandler for Registrar {
    fn register(self: Arc<Self>, endpoint: Endpoint, request: IncomingRequest) {
        tokio::spawn(async move { self.answer(endpoint, request).await });
    }

    fn subscribe(self: Arc<Self>, endpoint: Endpoint, request: IncomingRequest) {
        let ivr = self.ivr.clone();
        tokio::spawn(async move { crate::mwi::subscribe(ivr, endpoint, request).await });
    }
}

/// Delete expired bindings and message-waiting subscriptions every minute until `stop` (any node may; deleting twice is
/// harmless).
pub async fn sweep(ivr: Arc<Ivr>, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match ivr
            .deps
            .store
            .run(|c| registrations::sweep(c, store::now()))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(bindings = n, "expired registrations swept"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep registrations"),
        }
        match ivr.deps.store.run(|c| mwi::sweep(c, store::now())).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(subscriptions = n, "expired lamp subscriptions swept"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep lamp subscriptions"),
        }
    }
}
