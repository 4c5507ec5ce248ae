//! The dashboard (`/`): contacts with live presence and the status I show, my inbox (newest
//! first, a page at a time, each message with a compact play button whose player opens on
//! demand) and what I sent with each recipient's receipts and their times. `portal.js` keeps
//! presence, the inbox and receipts current over the WebSocket. `/trash` lists what I deleted
//! lately, to restore.

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
    /// A phone of theirs is registered: a callback reaches them.
    pub phone: bool,
}

pub(crate) struct FileLink {
    pub id: String,
    pub name: String,
}

pub(crate) struct InboxRow {
    pub id: String,
    pub files: Vec<FileLink>,
    pub new: bool,
    pub urgent: bool,
    pub from: String,
    pub from_extension: String,
    pub at: String,
    pub length: String,
    /// Which message this is, for controls' accessible names: "from Bob Baker at 14:02".
    pub label: String,
}

impl InboxRow {
    fn of(i: inbox::InboxItem, files: Vec<attachments::Attachment>, tz: &str) -> Self {
        let at = local_time(i.message.created_at.and_utc(), tz);
        Self {
            label: format!("from {} at {at}", i.sender.display_name),
            files: files
                .into_iter()
                .map(|f| FileLink {
                    id: f.id,
                    name: f.filename,
                })
                .collect(),
            new: i.is_new(),
            urgent: i.message.urgent,
            id: i.message.id,
            from: i.sender.display_name,
            from_extension: i.sender.extension,
            at,
            length: clock(i.message.duration_ms),
        }
    }
}

pub(crate) struct SentRow {
    pub id: String,
    pub at: String,
    pub length: String,
    pub urgent: bool,
    /// The groups it went to ("Sales (200)"); empty for people only.
    pub groups: String,
    pub recipients: Vec<SentTo>,
}

/// One recipient of a sent message as its sender sees it.
pub(crate) struct SentTo {
    pub name: String,
    pub extension: String,
    /// The newest receipt's kind, or the state before any (`queued`, `delivering`).
    pub latest: String,
    pub reason: Option<String>,
    /// "delivered 2026-12-06 14:02 CET by e-mail · heard …", in the sender's zone.
    pub times: String,
    /// For one not reached yet: "next try 2026-12-06 22:00 CET by e-mail".
    pub next_try: String,
}

impl SentRow {
    fn of(view: SentView, tz: &str) -> Self {
        let recipients = view
            .recipients
            .iter()
            .map(|r| SentTo {
                name: r.name.clone(),
                extension: r.extension.clone(),
                latest: r.latest().to_owned(),
                reason: r.reason.clone(),
                times: r
                    .receipts
                    .iter()
                    .filter(|x| x.kind != "failed")
                    .map(|x| {
                        let at = local_time(x.at, tz);
                        match &x.channel {
                            Some(ch) => format!("{} {at} by {}", x.kind, channel_words(ch)),
                            None => format!("{} {at}", x.kind),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" · "),
                next_try: r
                    .next_try
                    .as_ref()
                    .map(|n| {
                        format!(
                            "next try {} by {}",
                            local_time(n.at, tz),
                            channel_words(&n.channel)
                        )
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Self {
            groups: view.sent_to.clone().unwrap_or_default(),
            at: local_time(view.created_at, tz),
            length: clock(view.duration_ms),
            urgent: view.urgent,
            id: view.id,
            recipients,
        }
    }
}

/// A channel as people say it.
fn channel_words(name: &str) -> String {
    hark_core::channel::Channel::parse(name)
        .map_or_else(|| name.to_owned(), |c| c.noun().to_owned())
}

/// Messages on one page of the inbox.
pub(crate) const PAGE_SIZE: i64 = 20;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    #[serde(default)]
    page: Option<i64>,
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
    unheard: i64,
    /// This page of the inbox (from 1) and the links either side (empty: none).
    page: i64,
    newer: String,
    older: String,
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
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let uid = me.user.user_id();
    let tz = me.user.timezone.clone();
    let page = query.page.unwrap_or(1).clamp(1, 100_000);
    let (contacts, (inbox, more, unheard), sent) = state
        .deps
        .store
        .run(move |c| {
            let contacts = groups::list_contacts(c, &uid)?;
            let ids: Vec<&str> = contacts.iter().map(|(u, _)| u.id.as_str()).collect();
            let present = presence::statuses(c, &ids)?;
            let phones = hark_core::store::registrations::registered_users(
                c,
                &ids,
                hark_core::store::now(),
            )?;
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
                    phone: phones.contains(&u.id),
                })
                .collect::<Vec<_>>();
            let (items, more) = inbox::page(c, &uid, (page - 1) * PAGE_SIZE, PAGE_SIZE)?;
            let items = items
                .into_iter()
                .map(|i| {
                    let files = attachments::list_for_message(c, &i.message.message_id())?;
                    Ok((i, files))
                })
                .collect::<Result<Vec<_>, hark_core::store::StoreError>>()?;
            let unheard = inbox::count_new(c, &uid)?;
            let sent = sent::list(c, &uid, 25)?;
            Ok((contacts, (items, more, unheard), sent))
        })
        .await?;
    let inbox = inbox
        .into_iter()
        .map(|(i, files)| InboxRow::of(i, files, &tz))
        .collect();
    let sent = sent
        .into_iter()
        .map(|view| SentRow::of(view, &tz))
        .collect();
    let link = |p: i64| format!("/?page={p}");
    Ok(page::ok(&Dashboard {
        status: me.user.status.clone(),
        me: me.me(),
        nav: "home",
        statuses: users::STATUSES,
        contacts,
        inbox,
        unheard,
        page,
        newer: if page > 1 {
            link(page - 1)
        } else {
            String::new()
        },
        older: if more { link(page + 1) } else { String::new() },
        sent,
    }))
}

#[derive(Template)]
#[template(path = "trash.html")]
struct Trash {
    me: Me,
    nav: &'static str,
    days: i64,
    items: Vec<InboxRow>,
}

/// What I deleted lately, each with a button that puts it back.
#[get("/trash")]
pub(crate) async fn trash(
    state: web::Data<AppState>,
    me: WebUser,
) -> Result<HttpResponse, PageError> {
    let uid = me.user.user_id();
    let tz = me.user.timezone.clone();
    let items = state
        .deps
        .store
        .run(move |c| inbox::trash(c, &uid))
        .await?
        .into_iter()
        .map(|i| InboxRow::of(i, Vec::new(), &tz))
        .collect();
    Ok(page::ok(&Trash {
        me: me.me(),
        nav: "home",
        days: inbox::TRASH_DAYS,
        items,
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
