//! Composing a message in the browser (`/compose`): pick contacts or groups (or type
//! numbers), record with the microphone (`compose.js`, MediaRecorder) or choose an audio file,
//! listen to it, record again or discard it, attach files, and send. Without scripts the same
//! form still sends a chosen file.
//!
//! "Call me to record" (`/compose/call`) asks an IVR to ring my phone; I speak after the beep
//! and the message goes to the recipients picked here.
//!
//! The form is `multipart/form-data`, read field by field with a size limit on each, so an
//! oversize upload is refused as soon as it passes the limit and never held whole.

use super::Upload;
use crate::{
    AppState,
    page::{self, PageError},
    session::{Me, WebUser},
};
use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use futures_util::StreamExt;
use hark_core::{
    events::{CallPurpose, Command, Envelope, Origin, Originate},
    store::{self, groups, users::User},
};
use serde::Deserialize;

/// Largest text field accepted, and most fields in one form.
const MAX_TEXT: usize = 4096;
const MAX_FIELDS: usize = 300;

pub(crate) struct Pick {
    pub extension: String,
    pub name: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    me: Me,
    nav: &'static str,
    contacts: Vec<Pick>,
    groups: Vec<Pick>,
    to: String,
    error: String,
    max_seconds: u32,
    max_mib: usize,
    phone: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ComposeQuery {
    #[serde(default)]
    to: String,
}

/// The form again, with what was wrong and its status.
async fn refused(
    state: &AppState,
    me: &WebUser,
    chosen: &[String],
    e: PageError,
) -> Result<HttpResponse, PageError> {
    let status = actix_web::ResponseError::status_code(&e);
    render(state, me, status, chosen, e.to_string()).await
}

async fn render(
    state: &AppState,
    me: &WebUser,
    status: StatusCode,
    chosen: &[String],
    error: String,
) -> Result<HttpResponse, PageError> {
    let uid = me.user.user_id();
    let (contacts, group_list) = state
        .deps
        .store
        .run(move |c| {
            Ok((
                groups::list_contacts(c, &uid)?,
                groups::list_for_member(c, &uid)?,
            ))
        })
        .await?;
    let contacts: Vec<Pick> = contacts
        .into_iter()
        .map(|(u, _)| Pick {
            checked: chosen.contains(&u.extension),
            extension: u.extension,
            name: u.display_name,
        })
        .collect();
    let group_picks: Vec<Pick> = group_list
        .into_iter()
        .map(|g| Pick {
            checked: chosen.contains(&g.number),
            extension: g.number,
            name: g.name,
        })
        .collect();
    // Whatever was chosen that is not a listed pick stays in the free-text field.
    let to = chosen
        .iter()
        .filter(|n| {
            !contacts
                .iter()
                .chain(&group_picks)
                .any(|p| &p.extension == *n)
        })
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    Ok(page::html(
        status,
        &ComposePage {
            me: me.me(),
            nav: "compose",
            contacts,
            groups: group_picks,
            to,
            error,
            max_seconds: state.config.max_message_seconds,
            max_mib: state.config.max_upload_bytes / (1024 * 1024),
            phone: me.user.phone_uri.clone().unwrap_or_default(),
        },
    ))
}

#[get("/compose")]
pub(crate) async fn show(
    state: web::Data<AppState>,
    me: WebUser,
    query: web::Query<ComposeQuery>,
) -> Result<HttpResponse, PageError> {
    let chosen: Vec<String> = query
        .to
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty() && s.len() <= 16)
        .map(str::to_owned)
        .collect();
    render(&state, &me, StatusCode::OK, &chosen, String::new()).await
}

/// The compose form as posted.
#[derive(Debug, Default)]
struct ComposeForm {
    csrf: String,
    numbers: Vec<String>,
    urgent: bool,
    audio: Option<Upload>,
    attachments: Vec<Upload>,
}

/// Read one field whole, refusing it past `limit` bytes.
async fn read_field(
    field: &mut actix_multipart::Field,
    limit: usize,
) -> Result<Vec<u8>, PageError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| PageError::BadRequest(format!("reading the form: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(PageError::TooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn read_form(mut form: Multipart, state: &AppState) -> Result<ComposeForm, PageError> {
    let mut out = ComposeForm::default();
    let mut attached = 0usize;
    let mut fields = 0usize;
    while let Some(field) = form.next().await {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(PageError::BadRequest("too many form fields".into()));
        }
        let mut field =
            field.map_err(|e| PageError::BadRequest(format!("reading the form: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let content_type = field
            .content_type()
            .map(|m| m.essence_str().to_owned())
            .unwrap_or_else(|| "application/octet-stream".into());
        match name.as_str() {
            "audio" => {
                let bytes = read_field(&mut field, state.config.max_upload_bytes).await?;
                if !bytes.is_empty() {
                    out.audio = Some(Upload {
                        filename: filename.unwrap_or_default(),
                        content_type,
                        bytes,
                    });
                }
            }
            "attachment" => {
                let left = state.config.max_attachment_bytes.saturating_sub(attached);
                let bytes = read_field(&mut field, left).await.map_err(|e| match e {
                    PageError::TooLarge(_) => {
                        PageError::TooLarge(state.config.max_attachment_bytes)
                    }
                    e => e,
                })?;
                attached += bytes.len();
                if let Some(filename) = filename.filter(|_| !bytes.is_empty()) {
                    out.attachments.push(Upload {
                        filename,
                        content_type,
                        bytes,
                    });
                }
            }
            _ => {
                let bytes = read_field(&mut field, MAX_TEXT).await?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| PageError::BadRequest(format!("field {name} is not text")))?;
                match name.as_str() {
                    "csrf" => out.csrf = text,
                    "to" | "pick" => out.numbers.extend(
                        text.split(|c: char| c == ',' || c.is_whitespace())
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                    ),
                    "urgent" => out.urgent = !text.is_empty(),
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// Whether the page's script sent this (it wants JSON back, not a page).
fn from_script(req: &HttpRequest) -> bool {
    req.headers()
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes() == b"fetch")
}

#[post("/compose")]
pub(crate) async fn send(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
    form: Multipart,
) -> Result<HttpResponse, PageError> {
    let form = read_form(form, &state).await?;
    me.check_csrf(&form.csrf)?;
    if !state.throttle.send(&me.user.id) {
        return Err(PageError::TooMany);
    }
    let chosen = form.numbers.clone();
    let outcome = async {
        let numbers = super::parse_numbers(&form.numbers.join(","))?;
        let addressed = super::resolve(&state.deps, numbers, &me.user).await?;
        let people = addressed.people;
        let audio = form.audio.ok_or_else(|| {
            super::SendError::Invalid("record a message or choose an audio file first".into())
        })?;
        super::send(
            &state.deps,
            &state.decoder,
            super::Outgoing {
                sender: me.user.user_id(),
                recipients: people.iter().map(User::user_id).collect(),
                groups: addressed.groups,
                origin: Origin::Web,
                urgent: form.urgent,
                audio: audio.bytes,
                max_seconds: state.config.max_message_seconds,
                attachments: form.attachments,
                idempotency: None,
            },
        )
        .await
        .map(|sent| (sent.message, people))
    }
    .await;
    match outcome {
        Ok((message, people)) => {
            tracing::info!(message = %message.id, sender = %me.user.extension, recipients = people.len(), "message sent from the portal");
            let to_dashboard = crate::forms::done(&state, &me, "/", &sent_to(&people)).await?;
            if from_script(&req) {
                return Ok(page::private(HttpResponse::Created())
                    .json(serde_json::json!({ "id": message.id, "location": "/" })));
            }
            Ok(to_dashboard)
        }
        Err(e) => {
            let e = PageError::from(e);
            if matches!(e, PageError::Internal(_)) {
                return Err(e);
            }
            if from_script(&req) {
                return Ok(page::private(HttpResponse::build(
                    actix_web::ResponseError::status_code(&e),
                ))
                .json(serde_json::json!({ "error": e.to_string() })));
            }
            refused(&state, &me, &chosen, e).await
        }
    }
}

/// "Call me to record": ring my phone; what I say after the beep goes to these recipients.
#[post("/compose/call")]
pub(crate) async fn call_me(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    // Pairs, not a struct: checkboxes repeat their name.
    let form = form.into_inner();
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    me.check_csrf(csrf.unwrap_or_default())?;
    if !state.throttle.send(&me.user.id) {
        return Err(PageError::TooMany);
    }
    let chosen: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "to" || k == "pick")
        .flat_map(|(_, v)| v.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|s| !s.is_empty())
        .take(super::MAX_RECIPIENTS + 1)
        .map(str::to_owned)
        .collect();
    let Some(phone) = me.user.phone_uri.clone().filter(|p| !p.is_empty()) else {
        return render(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            &chosen,
            "Add your phone number or SIP address on your profile first.".into(),
        )
        .await;
    };
    let addressed = match super::parse_numbers(&chosen.join(",")) {
        Ok(numbers) => super::resolve(&state.deps, numbers, &me.user).await,
        Err(e) => Err(e),
    };
    let addressed = match addressed {
        Ok(a) => a,
        Err(e) => {
            return refused(&state, &me, &chosen, PageError::from(e)).await;
        }
    };
    let command = Envelope::new(Command::Originate(Originate {
        user_id: me.user.user_id(),
        target: phone.clone(),
        device: None,
        purpose: CallPurpose::Record {
            recipients: addressed.people.iter().map(User::user_id).collect(),
            sent_to: addressed.groups,
        },
    }));
    state
        .deps
        .store
        .transaction(move |c| store::outbox::enqueue_command(c, &command))
        .await?;
    state.deps.outbox.notify();
    tracing::info!(extension = %me.user.extension, %phone, "call me to record");
    let calling = format!(
        "Hark is calling {phone}. Speak after the beep; hang up or press # when you are done."
    );
    crate::forms::done(&state, &me, "/compose", &calling).await
}

/// "Sent to Bob Baker", "Sent to Bob Baker and Carol Chen", "Sent to Bob Baker, Carol Chen
/// and 3 others".
fn sent_to(people: &[User]) -> String {
    let names: Vec<&str> = people.iter().map(|p| p.display_name.as_str()).collect();
    match names.as_slice() {
        [] => "Sent.".to_owned(),
        [one] => format!("Sent to {one}."),
        [a, b] => format!("Sent to {a} and {b}."),
        [a, b, c] => format!("Sent to {a}, {b} and {c}."),
        [a, b, rest @ ..] => format!("Sent to {a}, {b} and {} others.", rest.len()),
    }
}
