//! The dashboard (`/`): contacts with live presence and the status I show, my inbox with a
//! player for each message, and what I sent with each recipient's receipts. `portal.js`
//! keeps presence and receipts current over the WebSocket.

use crate::{
    AppState,
    page::{self, PageError, clock, local_time},
    sent::{self, SentView},
    session::{Me, WebUser},
};
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use hark_core::store::{attachments, groups, inbox, presence, users};
use serde::Deserialize;

pub(crate) struct ContactRow {
    pub name: String,
    pub extension: String,
    pub speed_dial: String,
    /// `available`, `busy`, `dnd` or `offline`.
    pub status: String,
}

pub(crate) struct FileLink {
    pub id: String,
    pub name: String,
}

pub(crate) struct InboxRow {
    pub id: String,
    pub files: Vec<FileLink>,
    pub new: bool,
    pub from: String,
    pub from_extension: String,
    pub at: String,
    pub length: String,
}

pub(crate) struct SentRow {
    pub view: SentView,
    pub at: String,
    pub length: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    me: Me,
    nav: &'static str,
    status: String,
    statuses: [&'static str; 3],
    contacts: Vec<ContactRow>,
    inbox: Vec<InboxRow>,
    sent: Vec<SentRow>,
}

impl Dashboard {
    fn is_status(&self, s: &str) -> bool {
        self.status == s
    }
}

#[get("/")]
pub(crate) async fn show(
    state: web::Data<AppState>,
    me: WebUser,
) -> Result<HttpResponse, PageError> {
    let uid = me.user.user_id();
    let tz = me.user.timezone.clone();
    let (contacts, inbox, sent) = state
        .deps
        .store
        .run(move |c| {
            let contacts = groups::list_contacts(c, &uid)?;
            let ids: Vec<&str> = contacts.iter().map(|(u, _)| u.id.as_str()).collect();
            let present = presence::statuses(c, &ids)?;
            let contacts = contacts
                .iter()
                .map(|(u, dial)| ContactRow {
                    name: u.display_name.clone(),
                    extension: u.extension.clone(),
                    speed_dial: dial.map(|d| d.to_string()).unwrap_or_default(),
                    status: present
                        .get(&u.id)
                        .cloned()
                        .unwrap_or_else(|| "offline".into()),
                })
                .collect::<Vec<_>>();
            let inbox = inbox::list(c, &uid)?
                .into_iter()
                .map(|i| {
                    let files = attachments::list_for_message(c, &i.message.message_id())?;
                    Ok((i, files))
                })
                .collect::<Result<Vec<_>, hark_core::store::StoreError>>()?;
            let sent = sent::list(c, &uid, 25)?;
            Ok((contacts, inbox, sent))
        })
        .await?;
    let inbox = inbox
        .into_iter()
        .map(|(i, files)| InboxRow {
            files: files
                .into_iter()
                .map(|f| FileLink {
                    id: f.id,
                    name: f.filename,
                })
                .collect(),
            new: i.is_new(),
            id: i.message.id,
            from: i.sender.display_name,
            from_extension: i.sender.extension,
            at: local_time(i.message.created_at.and_utc(), &tz),
            length: clock(i.message.duration_ms),
        })
        .collect();
    let sent = sent
        .into_iter()
        .map(|view| SentRow {
            at: local_time(view.created_at, &tz),
            length: clock(view.duration_ms),
            view,
        })
        .collect();
    Ok(page::ok(&Dashboard {
        status: me.user.status.clone(),
        me: me.me(),
        nav: "home",
        statuses: users::STATUSES,
        contacts,
        inbox,
        sent,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatusForm {
    #[serde(default)]
    csrf: String,
    status: String,
}

/// Choose what my contacts see while I am online.
#[post("/status")]
pub(crate) async fn set_status(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let status = form.into_inner().status;
    if !users::STATUSES.contains(&status.as_str()) {
        return Err(PageError::BadRequest(format!("no status {status:?}")));
    }
    crate::push::set_status(&state, &me.user, &status).await?;
    let shown = format!("Your contacts now see you as {status}.");
    crate::forms::done(&state, &me, "/", &shown).await
}
