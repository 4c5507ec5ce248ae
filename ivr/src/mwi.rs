//! Message-waiting lamps (RFC 3842): `message-summary` NOTIFYs with a person's new and old
//! message counts (urgent ones apart), to phones that SUBSCRIBE (RFC 6665) and, unasked, to
//! registered phones whose device says so (`mwi_unsolicited`, for phones that never
//! subscribe).
//!
//! - A SUBSCRIBE is authenticated like a REGISTER ([`crate::phone_auth`]) and is for the
//!   phone's own mailbox only (its SIP username in the Request-URI or To); any other event
//!   package gets 489 with `Allow-Events`. Its expiry is bounded like a registration's (423
//!   below the minimum). The subscription is a dialog kept in the store, so any IVR node
//!   takes its refreshes (481 for one it does not know) and sends its NOTIFYs; each NOTIFY
//!   takes the next CSeq from the store. The first NOTIFY follows the 200 at once; an
//!   unsubscribe (`Expires: 0`) gets a last one saying `terminated`.
//! - Lamps are set again whenever a person's mailbox changes — a message recorded for them,
//!   played (from any channel), deleted, restored or marked unheard: the `ivr.mwi` queue,
//!   which one IVR node takes each event from — on every registration of a phone, and at
//!   start-up for every phone registered or subscribed before.
//! - A NOTIFY the phone answers with 481 (or never answers) ends its subscription.

use crate::{
    Ivr,
    phone_auth::Checked,
    sip::{self, outbound::Route},
};
use ezk_sip_core::{Endpoint, IncomingRequest, Request, transport::TargetTransportInfo};
use ezk_sip_types::print::AppendCtx;
use ezk_sip_types::{
    Headers, Method, Name, StatusCode,
    header::typed::{Contact, Expires},
    msg::RequestLine,
};
use hark_core::{
    bus::consume::{self, HandleError},
    events::{Envelope, Event},
    ids::UserId,
    store::{self, devices, mwi, registrations},
};
use std::{sync::Arc, time::Duration};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

/// The event package.
const PACKAGE: &str = "message-summary";
const CONTENT_TYPE: &str = "application/simple-message-summary";
/// How long a NOTIFY may go unanswered (RFC 3261 Timer F is 32 s; a lamp that late is no use).
const NOTIFY_WAIT: Duration = Duration::from_secs(16);
/// People whose lamps are set at once, when one event concerns many (a group message).
const PEOPLE_AT_ONCE: usize = 64;

/// Answer one SUBSCRIBE (new, refresh or unsubscribe), then send the NOTIFY it calls for.
pub async fn subscribe(ivr: Arc<Ivr>, endpoint: Endpoint, request: IncomingRequest) {
    let (mut response, then) = answer(&ivr, &endpoint, &request).await;
    tracing::debug!(
        code = response.msg.line.code.into_u16(),
        source = %request.tp_info.source,
        "SUBSCRIBE answered"
    );
    if let Err(e) = endpoint.send_outgoing_response(&mut response).await {
        tracing::debug!(error = %e, "could not answer SUBSCRIBE");
        return;
    }
    if let Some((subscription, state)) = then {
        let account = subscription.our_uri.clone();
        let user = UserId::from(subscription.user_id.as_str());
        let waiting = match ivr.deps.store.run(move |c| mwi::waiting(c, &user)).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot count a mailbox for its lamp");
                return;
            }
        };
        notify_subscriber(
            &ivr,
            &endpoint,
            &subscription,
            &state,
            waiting.summary(&account),
        )
        .await;
    }
}

/// The SUBSCRIBE's answer and, when it made or kept a subscription, the NOTIFY to send
/// (its `Subscription-State`).
async fn answer(
    ivr: &Arc<Ivr>,
    endpoint: &Endpoint,
    request: &IncomingRequest,
) -> (
    ezk_sip_core::transport::OutgoingResponse,
    Option<(mwi::Subscription, String)>,
) {
    let refuse = |code: StatusCode, reason: &'static str| {
        (
            endpoint.create_response(request, code, Some(reason.into())),
            None,
        )
    };
    let event = request.headers.get_raw(&Name::EVENT).next().map(|e| {
        e.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    if event.as_deref() != Some(PACKAGE) {
        let mut r = endpoint.create_response(request, StatusCode::BAD_EVENT, None);
        r.msg.headers.insert(Name::ALLOW_EVENTS, PACKAGE);
        return (r, None);
    }
    let account = match ivr.phones.check(request, "SUBSCRIBE").await {
        Checked::Authenticated(a) => a,
        Checked::Challenge { stale } => {
            return (ivr.phones.challenge(endpoint, request, stale), None);
        }
        Checked::Refused(code, reason) => return refuse(code, reason),
    };
    let mine = account.sip_username.as_deref();
    let asked = [
        sip::user_part(&request.line.uri.user_part),
        sip::user_part(&request.base_headers.to.uri.uri.user_part),
    ];
    if !asked
        .iter()
        .any(|u| u.as_deref().is_some_and(|u| Some(u) == mine))
    {
        return refuse(StatusCode::FORBIDDEN, "Not your mailbox");
    }
    let config = &ivr.config;
    let (min, max) = (
        config.register_min_secs,
        config.register_max_secs.max(config.register_min_secs),
    );
    let expires = match request.headers.try_get_named::<Expires>() {
        None => max,
        Some(Ok(Expires(e))) => e.min(max),
        Some(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "Malformed Expires"),
    };
    if expires != 0 && expires < min {
        let mut r = endpoint.create_response(
            request,
            StatusCode::INTERVAL_TOO_BRIEF,
            Some("Interval Too Brief".into()),
        );
        r.msg.headers.insert(Name::MIN_EXPIRES, min.to_string());
        return (r, None);
    }
    let contact = match request.headers.try_get_named::<Contact>() {
        Some(Ok(c)) => c.uri.uri.default_print_ctx().to_string(),
        _ => return refuse(StatusCode::BAD_REQUEST, "No Contact"),
    };
    let Some(their_tag) = request
        .base_headers
        .from
        .tag
        .as_ref()
        .map(|t| t.to_string())
    else {
        return refuse(StatusCode::BAD_REQUEST, "No From tag");
    };
    let now = store::now();
    let until = now + chrono::Duration::seconds(i64::from(expires));
    let source = sip::source_text(request);
    let call_id = request.base_headers.call_id.0.to_string();
    let subscription = match &request.base_headers.to.tag {
        // A refresh or an unsubscribe, in a dialog we made (on any node).
        Some(our_tag) => {
            let (call_id, their_tag, our_tag) =
                (call_id.clone(), their_tag.clone(), our_tag.to_string());
            let (contact, source) = (contact.clone(), source.clone());
            let found = ivr
                .deps
                .store
                .transaction(move |c| {
                    let Some(s) = mwi::find(c, &call_id, &their_tag, &our_tag, now)? else {
                        return Ok(None);
                    };
                    if expires == 0 {
                        mwi::remove(c, &s.id)?;
                    } else {
                        mwi::refresh(c, &s.id, &contact, &source, until)?;
                    }
                    Ok(Some(s))
                })
                .await;
            match found {
                Ok(Some(s)) => s,
                Ok(None) => {
                    return refuse(
                        StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                        "No such subscription",
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot refresh a lamp subscription");
                    return refuse(StatusCode::SERVER_INTERNAL_ERROR, "Store unavailable");
                }
            }
        }
        None => {
            let s = mwi::Subscription {
                id: hark_core::ids::EventId::new().to_string(),
                device_id: account.device_id.clone(),
                user_id: account.user_id.clone(),
                call_id,
                their_tag,
                our_tag: hex::encode(rand::random::<[u8; 8]>()),
                their_uri: request
                    .base_headers
                    .from
                    .uri
                    .uri
                    .default_print_ctx()
                    .to_string(),
                our_uri: request
                    .base_headers
                    .to
                    .uri
                    .uri
                    .default_print_ctx()
                    .to_string(),
                contact,
                source,
                route_set: {
                    let rr: Vec<String> = request
                        .headers
                        .get_raw(&Name::RECORD_ROUTE)
                        .map(|v| v.to_string())
                        .collect();
                    (!rr.is_empty()).then(|| rr.join(", "))
                },
                cseq: 0,
                expires_at: until,
                updated_at: now,
            };
            if expires != 0 {
                let row = s.clone();
                if let Err(e) = ivr.deps.store.run(move |c| mwi::add(c, &row)).await {
                    tracing::error!(error = %e, "cannot keep a lamp subscription");
                    return refuse(StatusCode::SERVER_INTERNAL_ERROR, "Store unavailable");
                }
            }
            s
        }
    };
    tracing::info!(
        username = mine.unwrap_or_default(),
        source = %request.tp_info.source,
        expires,
        "lamp subscription"
    );
    let mut ok = endpoint.create_response(request, StatusCode::OK, None);
    if request.base_headers.to.tag.is_none()
        && let Some(to) = request.headers.get_raw(&Name::TO).next()
    {
        let to = format!("{};tag={}", to.as_str(), subscription.our_tag);
        ok.msg.headers.remove(&Name::TO);
        ok.msg.headers.insert(Name::TO, to);
    }
    ok.msg.headers.insert_named(&Expires(expires));
    ok.msg
        .headers
        .insert(Name::CONTACT, format!("<sip:hark@{}>", ivr.sip.sip_addr));
    let state = if expires == 0 {
        "terminated;reason=timeout".to_owned()
    } else {
        format!("active;expires={expires}")
    };
    (ok, Some((subscription, state)))
}

/// Set the lamps of `user`'s phones (of `device` only, when given): a NOTIFY in each live
/// subscription and, unasked, to each registered contact of a device that wants it.
pub async fn set_lamps(ivr: &Arc<Ivr>, endpoint: &Endpoint, user: &UserId, device: Option<&str>) {
    let (u, d) = (user.clone(), device.map(str::to_owned));
    let loaded = ivr
        .deps
        .store
        .run(move |c| {
            let now = store::now();
            let subscriptions = mwi::of_user(c, &u, d.as_deref(), now)?;
            let mut unasked = Vec::new();
            // One device (a REGISTER): that row only, so a registration costs two indexed
            // reads here; else every phone of the person.
            let accounts = match d.as_deref() {
                Some(d) => devices::sip_account_of(c, &u, d)?.into_iter().collect(),
                None => devices::sip_accounts_of_user(c, &u)?,
            };
            for account in accounts {
                if !account.mwi_unsolicited {
                    continue;
                }
                let Some(username) = account.sip_username.clone() else {
                    continue;
                };
                for b in registrations::of_device(c, &account.device_id, now)? {
                    unasked.push((username.clone(), b));
                }
            }
            if subscriptions.is_empty() && unasked.is_empty() {
                return Ok(None);
            }
            Ok(Some((mwi::waiting(c, &u)?, subscriptions, unasked)))
        })
        .await;
    let (waiting, subscriptions, unasked) = match loaded {
        Ok(Some(l)) => l,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, %user, "cannot read what a lamp should show");
            return;
        }
    };
    let mut sends = JoinSet::new();
    for s in subscriptions {
        let (ivr, endpoint) = (ivr.clone(), endpoint.clone());
        let left = (s.expires_at - store::now()).num_seconds().max(0);
        let body = waiting.summary(&s.our_uri);
        sends.spawn(async move {
            notify_subscriber(&ivr, &endpoint, &s, &format!("active;expires={left}"), body).await;
        });
    }
    for (username, binding) in unasked {
        let (ivr, endpoint) = (ivr.clone(), endpoint.clone());
        let account = format!("sip:{username}@{}", ivr.config.sip_realm);
        let body = waiting.summary(&account);
        sends.spawn(async move {
            notify_unasked(&ivr, &endpoint, &binding, &account, body).await;
        });
    }
    while sends.join_next().await.is_some() {}
}

/// A NOTIFY in subscription `s`; a phone that says it has no such subscription (481) or does
/// not answer loses it.
async fn notify_subscriber(
    ivr: &Arc<Ivr>,
    endpoint: &Endpoint,
    s: &mwi::Subscription,
    state: &str,
    body: String,
) {
    let id = s.id.clone();
    let cseq = if state.starts_with("terminated") {
        // The subscription row is already gone: one past the last.
        Some(s.cseq + 1)
    } else {
        match ivr.deps.store.run(move |c| mwi::next_cseq(c, &id)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot number a NOTIFY");
                return;
            }
        }
    };
    let Some(cseq) = cseq else {
        return; // unsubscribed meanwhile
    };
    let route = Route::to_contact(&s.contact, &s.source, s.route_set.as_deref());
    let mut headers = Headers::new();
    headers.insert(Name::FROM, format!("<{}>;tag={}", s.our_uri, s.our_tag));
    headers.insert(Name::TO, format!("<{}>;tag={}", s.their_uri, s.their_tag));
    headers.insert(Name::CALL_ID, s.call_id.as_str());
    headers.insert(Name::CSEQ, format!("{cseq} NOTIFY"));
    headers.insert(Name::SUBSCRIPTION_STATE, state);
    let code = send_notify(ivr, endpoint, route, headers, body).await;
    let gone = match code {
        Some(c) if c.into_u16() / 100 == 2 => false,
        Some(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST) | None => true,
        Some(_) => false,
    };
    if gone && !state.starts_with("terminated") {
        tracing::info!(contact = %s.contact, ?code, "a lamp subscription ended by the phone");
        let id = s.id.clone();
        if let Err(e) = ivr.deps.store.run(move |c| mwi::remove(c, &id)).await {
            tracing::warn!(error = %e, "cannot end a lamp subscription");
        }
    }
}

/// An unsolicited NOTIFY to a registered contact (outside any subscription).
async fn notify_unasked(
    ivr: &Arc<Ivr>,
    endpoint: &Endpoint,
    binding: &registrations::Registration,
    account: &str,
    body: String,
) {
    let mut headers = Headers::new();
    headers.insert(
        Name::FROM,
        format!("<{account}>;tag={}", hex::encode(rand::random::<[u8; 8]>())),
    );
    headers.insert(Name::TO, format!("<{account}>"));
    headers.insert(
        Name::CALL_ID,
        hex::encode(rand::random::<[u8; 16]>()).as_str(),
    );
    headers.insert(Name::CSEQ, "1 NOTIFY");
    headers.insert(Name::SUBSCRIPTION_STATE, "active");
    send_notify(ivr, endpoint, Route::registered(binding), headers, body).await;
}

/// Send a `message-summary` NOTIFY with `headers` (From, To, Call-ID, CSeq,
/// Subscription-State) along `route`; the final response's code, None when none came.
async fn send_notify(
    ivr: &Arc<Ivr>,
    endpoint: &Endpoint,
    route: Result<Route, String>,
    mut headers: Headers,
    body: String,
) -> Option<StatusCode> {
    let route = match route {
        Ok(r) => r,
        Err(why) => {
            tracing::warn!(%why, "no way to a phone's lamp");
            return None;
        }
    };
    let hop = route.next_hop.clone()?;
    let transport = match endpoint.select_transport(&hop).await {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(error = %e, contact = %route.text, "cannot reach a phone's lamp");
            return None;
        }
    };
    headers.insert_named(&ezk_sip_types::header::typed::MaxForwards(70));
    for hop in &route.route_set {
        headers.insert(Name::ROUTE, hop.as_str());
    }
    headers.insert(Name::CONTACT, format!("<sip:hark@{}>", ivr.sip.sip_addr));
    headers.insert(Name::EVENT, PACKAGE);
    headers.insert(Name::CONTENT_TYPE, CONTENT_TYPE);
    let request = Request {
        line: RequestLine {
            method: Method::NOTIFY,
            uri: route.uri.clone(),
        },
        headers,
        body: bytes::Bytes::from(body),
    };
    let mut target = TargetTransportInfo {
        via_host_port: None,
        transport: Some(transport),
    };
    let mut tsx = match endpoint.send_request(request, &mut target).await {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(error = %e, contact = %route.text, "cannot send a NOTIFY");
            return None;
        }
    };
    match tokio::time::timeout(NOTIFY_WAIT, tsx.receive_final()).await {
        Ok(Ok(response)) => {
            ivr.metrics.lamp_set(response.line.code);
            Some(response.line.code)
        }
        _ => {
            tracing::debug!(contact = %route.text, "a NOTIFY went unanswered");
            ivr.metrics.lamp_unanswered();
            None
        }
    }
}

/// Take `ivr.mwi` until `shutdown`: set the lamps of everyone whose mailbox changed.
pub async fn run(
    ivr: Arc<Ivr>,
    endpoint: Endpoint,
    shutdown: CancellationToken,
) -> Result<(), hark_core::bus::BusError> {
    let deps = ivr.deps.clone();
    deps.bus.declare(&hark_core::bus::mwi_queue()).await?;
    let handler = Arc::new(Lamps { ivr, endpoint });
    consume::run::<Event, _>(&deps, hark_core::bus::MWI_QUEUE, 4, handler, shutdown).await
}

struct Lamps {
    ivr: Arc<Ivr>,
    endpoint: Endpoint,
}

#[async_trait::async_trait]
impl consume::Handler<Event> for Lamps {
    async fn handle(&self, envelope: Envelope<Event>) -> Result<(), HandleError> {
        let people = match envelope.body {
            Event::MessageRecorded { recipients, .. } => recipients,
            Event::MailboxChanged { user_id } => vec![user_id],
            _ => return Ok(()),
        };
        set_lamps_of(&self.ivr, &self.endpoint, people).await;
        Ok(())
    }
}

/// Set the lamps of all of `people`, [`PEOPLE_AT_ONCE`] at a time.
async fn set_lamps_of(ivr: &Arc<Ivr>, endpoint: &Endpoint, people: Vec<UserId>) {
    let gate = Arc::new(Semaphore::new(PEOPLE_AT_ONCE));
    let mut all = JoinSet::new();
    for person in people {
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        let (ivr, endpoint) = (ivr.clone(), endpoint.clone());
        all.spawn(async move {
            set_lamps(&ivr, &endpoint, &person, None).await;
            drop(permit);
        });
    }
    while all.join_next().await.is_some() {}
}

/// At start-up: set the lamp of every phone registered or subscribed before (a node that
/// restarted may have missed changes meanwhile).
pub async fn at_start(ivr: Arc<Ivr>, endpoint: Endpoint) {
    let people = match ivr
        .deps
        .store
        .run(|c| mwi::users_with_lamps(c, store::now()))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read which lamps to set at start-up");
            return;
        }
    };
    if people.is_empty() {
        return;
    }
    tracing::info!(
        people = people.len(),
        "setting message-waiting lamps at start-up"
    );
    let people = people
        .into_iter()
        .map(|p| UserId::from(p.as_str()))
        .collect();
    set_lamps_of(&ivr, &endpoint, people).await;
}

#[cfg(test)]
mod tests {
    use hark_core::store::mwi::Waiting;

    #[test]
    fn the_summary_says_what_rfc_3842_shows() {
        let w = Waiting {
            new: 2,
            old: 8,
            urgent_new: 0,
            urgent_old: 2,
        };
        assert_eq!(
            w.summary("sip:102@hark"),
            "Messages-Waiting: yes\r\nMessage-Account: sip:102@hark\r\nVoice-Message: 2/8 (0/2)\r\n"
        );
        assert!(
            Waiting::default()
                .summary("sip:102@hark")
                .starts_with("Messages-Waiting: no\r\n")
        );
    }
}
