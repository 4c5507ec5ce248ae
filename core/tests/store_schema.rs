//! The diesel schema matches both backends' migrations: on a fresh SQLite file and a fresh
//! PostgreSQL database, migrate, then write and read back a row of every table through the
//! schema, and check the constraints the code relies on.
//!
//! Over 500 lines on purpose: a row of every table is data, written out table by table.

use diesel::{Connection, RunQueryDsl, pg::PgConnection, prelude::*};
use hark_core::{
    events::{Envelope, Event, Origin, ReceiptKind},
    ids::{MessageId, UserId},
    store::{
        self, DbConnection, Store, StoreError, attempts, groups, messages, receipts, schema::*,
        users,
    },
};

fn pg_admin_url() -> String {
    std::env::var("HARK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

struct PgDb(String);

impl PgDb {
    fn create() -> Self {
        let name = format!(
            "hark_s_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let mut admin = PgConnection::establish(&pg_admin_url()).expect("PostgreSQL reachable");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap();
        Self(name)
    }

    fn url(&self) -> String {
        let admin = pg_admin_url();
        format!("{}/{}", admin.rsplit_once('/').unwrap().0, self.0)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&pg_admin_url()) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0))
                .execute(&mut admin);
        }
    }
}

fn user(c: &mut DbConnection, ext: &str) -> users::User {
    users::create(
        c,
        users::UserInsertForm {
            extension: ext.into(),
            display_name: format!("User {ext}"),
            email: Some(format!("{ext}@example.org")),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Every table, through the schema.
fn every_table(c: &mut DbConnection) -> Result<(), StoreError> {
    let now = store::now();
    let a = user(c, "101");
    let b = user(c, "102");
    let (aid, bid) = (a.user_id(), b.user_id());
    assert_eq!(users::list(c)?.len(), 2);
    assert!(
        users::create(
            c,
            users::UserInsertForm {
                extension: "101".into(),
                ..Default::default()
            }
        )
        .is_err()
    );
    assert!(
        users::create(
            c,
            users::UserInsertForm {
                extension: "1x".into(),
                ..Default::default()
            }
        )
        .is_err()
    );

    groups::add_contact(c, &aid, &bid, Some(1))?;
    assert_eq!(groups::list_contacts(c, &aid)?[0].1, Some(1));
    let g = groups::create(c, "200", "Team", Some(&aid))?;
    groups::add_member(c, &g.id, &aid)?;
    groups::add_member(c, &g.id, &bid)?;
    assert!(
        groups::create(c, "101", "clash", None).is_err(),
        "group numbers never shadow extensions"
    );
    let to = groups::resolve_recipients(c, &["200".into(), "102".into()], &aid)?;
    assert_eq!(
        to.iter().map(|u| u.extension.as_str()).collect::<Vec<_>>(),
        ["102"]
    );
    assert!(matches!(
        groups::resolve_recipients(c, &["999".into()], &aid),
        Err(StoreError::NotFoundNumbers(n)) if n == ["999"]
    ));

    diesel::insert_into(delivery_profiles::table)
        .values((
            delivery_profiles::user_id.eq(bid.as_str()),
            delivery_profiles::channels.eq(r#"[{"channel":"email"}]"#),
            delivery_profiles::updated_at.eq(now),
        ))
        .execute(c)?;
    let rules: String = delivery_profiles::table
        .find(bid.as_str())
        .select(delivery_profiles::sender_rules)
        .first(c)?;
    assert_eq!(rules, "[]");

    diesel::insert_into(devices::table)
        .values((
            devices::id.eq("d1"),
            devices::user_id.eq(bid.as_str()),
            devices::kind.eq("sip"),
            devices::address.eq("sip:bob@example.org"),
            devices::created_at.eq(now),
        ))
        .execute(c)?;

    let mid = MessageId::new();
    let form = messages::MessageInsertForm {
        id: mid.clone(),
        sender: aid.clone(),
        origin: Origin::Api,
        duration_ms: 1500,
        blob_key: "0123abcd-blob".into(),
        urgent: true,
        recipients: vec![bid.clone()],
    };
    let m = messages::create_complete(c, &form)?;
    assert!(m.urgent);
    assert_eq!(messages::find_by_id(c, &mid)?.unwrap(), m);
    assert_eq!(messages::list_sent(c, &aid, 10)?.len(), 1);

    // Live fragments are sealed at rest and open in their place only.
    let dir = tempfile::tempdir().unwrap();
    let blobs = hark_core::blob::BlobStore::new(dir.path(), &"ab".repeat(32)).unwrap();
    let fragment = b"FRAGMENT-OF-LIVE-AUDIO".to_vec();
    store::live_chunks::add(
        c,
        &blobs,
        &mid,
        &[(0, fragment.clone()), (1, b"two".to_vec())],
    )?;
    let raw: Vec<Vec<u8>> = hark_core::store::schema::live_chunks::table
        .select(hark_core::store::schema::live_chunks::body)
        .load(c)?;
    assert_eq!(raw.len(), 2);
    assert!(
        raw.iter()
            .all(|r| !r.windows(8).any(|w| w == &fragment[..8]))
    );
    assert_eq!(
        store::live_chunks::list(c, &blobs, &mid, 0)?,
        vec![fragment, b"two".to_vec()]
    );
    let other = hark_core::blob::BlobStore::new(dir.path(), &"cd".repeat(32)).unwrap();
    assert!(
        store::live_chunks::list(c, &other, &mid, 0)?.is_empty(),
        "another key opens nothing"
    );
    store::live_chunks::remove(c, &mid)?;

    // Upload idempotency keys.
    assert!(store::upload_keys::find(c, &aid, "k1")?.is_none());
    store::upload_keys::remember(c, &aid, "k1", "fp", &mid)?;
    assert_eq!(
        store::upload_keys::find(c, &aid, "k1")?,
        Some((mid.clone(), "fp".to_owned()))
    );
    assert!(
        store::upload_keys::find(c, &bid, "k1")?.is_none(),
        "keys are per sender"
    );
    assert!(
        store::upload_keys::remember(c, &aid, "k1", "fp", &mid)
            .unwrap_err()
            .is_unique_violation()
    );
    assert_eq!(store::upload_keys::prune(c)?, 0);

    // The phone's view: Bob's inbox, deleting from it, and a withdrawn recording.
    assert_eq!(store::inbox::count_new(c, &bid)?, 1);
    assert_eq!(store::inbox::list(c, &bid)?[0].sender.extension, "101");
    let held = MessageId::new();
    messages::create_recording(
        c,
        &held,
        &aid,
        Origin::Phone,
        false,
        std::slice::from_ref(&bid),
    )?;
    // A recording in progress names its IVR process; one whose process went silent is an
    // orphan that another IVR can claim, once.
    let rec = store::recordings::Recording {
        message_id: held.to_string(),
        node_id: "ivr-gone".into(),
        spool_path: "/spool/held.pcm".into(),
        started_at: now - chrono::Duration::minutes(5),
    };
    store::recordings::start(c, &rec)?;
    assert_eq!(
        store::recordings::list_orphaned(c, now - chrono::Duration::seconds(20), 10)?,
        vec![rec.clone()],
        "a recording of a node with no heartbeat"
    );
    assert!(store::recordings::claim(c, &held, "ivr-gone", "ivr-here")?);
    assert!(
        !store::recordings::claim(c, &held, "ivr-gone", "ivr-other")?,
        "taken once"
    );
    store::recordings::finish(c, &held)?;
    assert!(store::recordings::list_orphaned(c, now, 10)?.is_empty());
    assert!(messages::hold_for_review(c, &held, "held-blob", 900)?);
    assert_eq!(
        store::inbox::list(c, &bid)?.len(),
        1,
        "held messages are in no inbox"
    );
    assert_eq!(messages::cancel(c, &held)?.as_deref(), Some("held-blob"));
    assert!(
        messages::find_by_id(c, &held)?
            .unwrap()
            .cancelled_at
            .is_some()
    );
    assert_eq!(
        messages::list_sent(c, &aid, 10)?.len(),
        1,
        "withdrawn is not sent"
    );
    // The portal's view: a page of one, then marked unheard after a play, and the trash.
    let (page, more) = store::inbox::page(c, &bid, 0, 20)?;
    assert_eq!((page.len(), more), (1, false));
    assert!(
        store::inbox::page(c, &bid, 0, 0)?.1,
        "one more than a page of none"
    );
    assert!(page[0].is_new() && page[0].message.urgent);
    assert_eq!(
        store::inbox::page(c, &bid, 20, 20)?.0.len(),
        0,
        "page 2 is empty"
    );
    diesel::update(
        hark_core::store::schema::message_recipients::table.find((mid.as_str(), bid.as_str())),
    )
    .set(hark_core::store::schema::message_recipients::played_at.eq(Some(now)))
    .execute(c)?;
    assert_eq!(store::inbox::count_new(c, &bid)?, 0, "played");
    assert!(store::inbox::mark_unheard(c, &mid, &bid)?);
    assert_eq!(store::inbox::count_new(c, &bid)?, 1, "marked unheard");
    assert!(store::inbox::page(c, &bid, 0, 20)?.0[0].is_new());
    assert!(store::inbox::clear_unheard_mark(c, &mid, &bid)?);
    assert_eq!(store::inbox::count_new(c, &bid)?, 0);
    assert!(store::inbox::delete(c, &mid, &bid)?);
    assert!(!store::inbox::delete(c, &mid, &bid)?, "deleted once");
    assert!(store::inbox::page(c, &bid, 0, 20)?.0.is_empty());
    assert_eq!(store::inbox::trash(c, &bid)?.len(), 1, "in the trash");
    assert!(store::inbox::restore(c, &mid, &bid)?);
    assert!(!store::inbox::restore(c, &mid, &bid)?, "restored once");
    assert!(store::inbox::trash(c, &bid)?.is_empty());
    assert_eq!(
        store::inbox::page(c, &bid, 0, 20)?.0.len(),
        1,
        "back in the inbox"
    );
    assert!(store::inbox::delete(c, &mid, &bid)?);
    assert_eq!(store::inbox::count_new(c, &bid)?, 0);
    // Wrong PINs lock after the limit, and a right one clears the count.
    let hour = chrono::Duration::hours(1);
    assert!(!users::record_pin_failure(c, &bid, 2, hour)?);
    assert!(users::record_pin_failure(c, &bid, 2, hour)?);
    assert!(users::find_by_id(c, &bid)?.unwrap().pin_locked());
    users::reset_pin_failures(c, &bid)?;
    assert!(!users::find_by_id(c, &bid)?.unwrap().pin_locked());
    diesel::insert_into(attachments::table)
        .values((
            attachments::id.eq("att1"),
            attachments::message_id.eq(mid.as_str()),
            attachments::filename.eq("notes.pdf"),
            attachments::content_type.eq("application/pdf"),
            attachments::size_bytes.eq(5_000_000_000i64),
            attachments::blob_key.eq("0123abcd-att"),
        ))
        .execute(c)?;

    let attempt = attempts::create_attempt(
        c,
        &attempts::AttemptInsertForm {
            message: mid.clone(),
            recipient: bid.clone(),
            channel: hark_core::channel::Channel::Email,
            endpoint: None,
            due_at: now,
            give_up_at: None,
            state: "dispatched",
        },
    )?;
    assert!(attempts::finish_attempt(c, &attempt, "succeeded", None)?);
    assert!(
        !attempts::finish_attempt(c, &attempt, "failed", Some("late"))?,
        "settled once"
    );
    assert!(messages::mark_delivered(c, &mid, &bid, "email")?);
    assert!(messages::mark_played(c, &mid, &bid, "link")?);
    assert!(
        !messages::mark_played(c, &mid, &bid, "link")?,
        "played once"
    );
    assert!(
        !messages::mark_delivered(c, &mid, &bid, "email")?,
        "never back from played"
    );
    assert!(receipts::create(
        c,
        &mid,
        &bid,
        &aid,
        ReceiptKind::Heard,
        Some("link")
    )?);
    assert!(!receipts::create(
        c,
        &mid,
        &bid,
        &aid,
        ReceiptKind::Heard,
        Some("link")
    )?);
    assert_eq!(receipts::list_for_message(c, &mid)?.len(), 1);

    diesel::insert_into(plugins::table)
        .values((
            plugins::id.eq("p1"),
            plugins::name.eq("office-hours"),
            plugins::version.eq("1.0.0"),
            plugins::sha256.eq("ab"),
            plugins::wasm.eq(vec![0u8, 97, 115, 109, 255]),
            plugins::created_at.eq(now),
        ))
        .execute(c)?;
    let wasm: Vec<u8> = plugins::table.find("p1").select(plugins::wasm).first(c)?;
    assert_eq!(wasm, [0, 97, 115, 109, 255]);

    diesel::insert_into(presence::table)
        .values((
            presence::user_id.eq(aid.as_str()),
            presence::node.eq("portal-1"),
            presence::status.eq("available"),
            presence::heartbeat_at.eq(now),
        ))
        .execute(c)?;
    let bad_status = diesel::insert_into(presence::table)
        .values((
            presence::user_id.eq(bid.as_str()),
            presence::node.eq("portal-1"),
            presence::status.eq("sleeping"),
            presence::heartbeat_at.eq(now),
        ))
        .execute(c);
    assert!(bad_status.is_err(), "status is constrained");

    let token = store::sessions::create(c, &aid, "api", chrono::Duration::hours(1))?;
    assert_eq!(
        store::sessions::find_user_by_token(c, &token)?.unwrap().id,
        a.id
    );
    let stale = store::sessions::create(c, &aid, "api", chrono::Duration::seconds(-1))?;
    assert!(
        store::sessions::find_user_by_token(c, &stale)?.is_none(),
        "expired"
    );
    store::sessions::delete(c, &token)?;
    assert!(store::sessions::find_user_by_token(c, &token)?.is_none());
    portal_queries(c, &aid, &bid)?;
    admin_queries(c, &aid, &bid)?;

    // Deleting, restoring and marking messages unheard above told the lamps, through the
    // outbox (`mailbox.changed`, one each).
    let earlier = store::outbox::claim_due(c, 100, now + chrono::Duration::seconds(30))?;
    assert!(!earlier.is_empty());
    for row in earlier {
        assert_eq!(row.routing_key, "mailbox.changed", "{row:?}");
        store::outbox::delete(c, row.seq)?;
    }
    let e = Envelope::new(Event::MessagePlayed {
        message_id: mid,
        recipient_id: UserId::from(b.id.as_str()),
        via: "link".into(),
    });
    store::outbox::enqueue_event(c, &e)?;
    let claimed = store::outbox::claim_due(c, 10, now + chrono::Duration::seconds(30))?;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event_id, e.id.as_str());
    assert!(
        store::outbox::claim_due(c, 10, now)?.is_empty(),
        "leased rows are not claimed twice"
    );
    store::outbox::delete(c, claimed[0].seq)?;
    assert_eq!(store::outbox::count(c)?, 0);

    assert!(store::processed::mark(c, "t", &e.id)?);
    assert!(!store::processed::mark(c, "t", &e.id)?);
    assert!(store::processed::is_processed(c, "t", &e.id)?);
    assert_eq!(
        store::processed::prune(c, now - chrono::Duration::days(1))?,
        0,
        "recent kept"
    );
    assert_eq!(
        store::processed::prune(c, store::now() + chrono::Duration::seconds(1))?,
        1
    );
    assert!(!store::processed::is_processed(c, "t", &e.id)?);
    Ok(())
}

/// What the portal needs: web sessions with CSRF tokens and a notice for the next page, forms
/// acted on once, named API tokens, password lockout, chosen statuses, disabled accounts,
/// presence by node.
fn portal_queries(c: &mut DbConnection, aid: &UserId, bid: &UserId) -> Result<(), StoreError> {
    let day = chrono::Duration::days(1);
    let (web, csrf) = store::sessions::create_web(c, aid, day)?;
    let (who, found_csrf) = store::sessions::find_web(c, &web)?.unwrap();
    assert_eq!(
        (who.id.as_str(), found_csrf.as_str()),
        (aid.as_str(), csrf.as_str())
    );
    assert!(
        store::sessions::find_user_by_token(c, &web)?.is_none(),
        "a cookie is not an API token"
    );
    // A form's notice is kept for the session's next page and handed out once.
    assert_eq!(store::sessions::take_flash(c, &web)?, None);
    store::sessions::set_flash(c, &web, "Saved.")?;
    assert_eq!(
        store::sessions::take_flash(c, &web)?.as_deref(),
        Some("Saved.")
    );
    assert_eq!(store::sessions::take_flash(c, &web)?, None);
    // A form acts once; a refused one may be sent again.
    assert!(store::forms::submit(c, "form-1")?);
    assert!(!store::forms::submit(c, "form-1")?, "the same form again");
    store::forms::withdraw(c, "form-1")?;
    assert!(store::forms::submit(c, "form-1")?);
    assert_eq!(store::forms::prune(c)?, 0, "kept for a day");
    let named = store::sessions::create_api_token(c, aid, "alerts", day)?;
    assert!(store::sessions::find_user_by_token(c, &named)?.is_some());
    let listed = store::sessions::list_api_tokens(c, aid)?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name.as_deref(), Some("alerts"));
    assert!(listed[0].last_used_at.is_some(), "use is recorded");
    assert!(
        !store::sessions::revoke_api_token(c, bid, &listed[0].id)?,
        "only the owner's"
    );
    assert!(store::sessions::revoke_api_token(c, aid, &listed[0].id)?);
    assert!(store::sessions::find_user_by_token(c, &named)?.is_none());

    assert!(!users::record_login_failure(c, bid, 2, day)?);
    assert!(users::record_login_failure(c, bid, 2, day)?);
    assert!(users::find_by_id(c, bid)?.unwrap().login_locked());
    users::reset_login_failures(c, bid)?;
    assert!(!users::find_by_id(c, bid)?.unwrap().login_locked());
    users::set_status(c, bid, "dnd")?;
    assert!(users::set_status(c, bid, "asleep").is_err());
    assert_eq!(
        users::list_statuses(c, &[bid.as_str().to_owned()])?,
        vec![(bid.as_str().to_owned(), "dnd".to_owned())]
    );

    assert_eq!(
        store::presence::heartbeat(c, bid.as_str(), "portal-2", "dnd")?,
        "offline"
    );
    assert_eq!(
        store::presence::heartbeat(c, bid.as_str(), "portal-2", "busy")?,
        "dnd"
    );
    assert!(
        !store::presence::leave(c, bid.as_str(), "portal-9")?,
        "another node's row stays"
    );
    assert!(store::presence::leave(c, bid.as_str(), "portal-2")?);
    store::presence::heartbeat(c, bid.as_str(), "portal-3", "available")?;
    assert_eq!(
        store::presence::leave_node(c, "portal-3")?,
        vec![bid.as_str().to_owned()]
    );

    let (web_b, _) = store::sessions::create_web(c, bid, day)?;
    assert!(users::set_disabled(c, bid, true)?);
    assert!(
        store::sessions::find_web(c, &web_b)?.is_none(),
        "disabling ends sessions"
    );
    users::set_disabled(c, bid, false)?;
    assert!(!users::find_by_id(c, bid)?.unwrap().is_disabled());
    store::sessions::delete_for_user(c, aid, Some(&web))?;
    assert!(
        store::sessions::find_web(c, &web)?.is_some(),
        "the kept session stays"
    );
    Ok(())
}

/// The profile and admin pages' queries: profiles, devices and their verification, contacts
/// and groups, nodes, plugin log lines, the outbox listing.
fn admin_queries(c: &mut DbConnection, aid: &UserId, bid: &UserId) -> Result<(), StoreError> {
    use hark_core::profile::{Profile, QuietHours, Step};
    assert_eq!(store::profiles::find(c, aid)?, None);
    let mut p = Profile {
        steps: vec![Step::new("popup", 0), Step::new("email", 300)],
        quiet: Some(QuietHours {
            from: "22:00".into(),
            to: "07:00".into(),
            allow: vec!["email".into()],
        }),
        senders: vec![],
        attach_audio: false,
    };
    store::profiles::put(c, aid, &p)?;
    p.quiet = None;
    p.attach_audio = true;
    store::profiles::put(c, aid, &p)?;
    assert_eq!(store::profiles::find(c, aid)?.unwrap(), p);

    let hash = store::devices::token_hash("secret");
    let d = store::devices::add(c, aid, "email", "a@example.net", Some(&hash))?;
    assert!(d.verified_at.is_none());
    assert!(matches!(
        store::devices::add(c, aid, "email", "a@example.net", None),
        Err(StoreError::Conflict(_))
    ));
    assert!(store::devices::add(c, aid, "fax", "1", None).is_err());
    let day = chrono::Duration::days(1);
    assert!(store::devices::verify(c, &d.id, &store::devices::token_hash("wrong"), day)?.is_none());
    assert!(
        store::devices::verify(c, &d.id, &hash, day)?
            .unwrap()
            .verified_at
            .is_some()
    );
    let phone = store::devices::add(c, aid, "sip", "sip:a@example.net", None)?;
    assert!(phone.verified_at.is_some());
    // SIP credentials (hashes only, unique usernames, phones only) and where phones register.
    let now = store::now();
    assert!(store::devices::set_sip_credentials(
        c,
        aid,
        &phone.id,
        "101",
        "a long secret",
        "hark",
        true,
        false
    )?);
    assert!(matches!(
        store::devices::set_sip_credentials(
            c,
            aid,
            &d.id,
            "101x",
            "a long secret",
            "hark",
            false,
            false
        ),
        Err(StoreError::Invalid(_))
    ));
    let account = store::devices::find_sip_account(c, "101")?.unwrap();
    let md5 = hark_core::digest::Algorithm::Md5;
    assert!(account.trusted && account.ha1(md5, "hark").is_some());
    assert!(
        account.ha1(md5, "elsewhere").is_none(),
        "made in another realm"
    );
    assert_eq!(store::devices::sip_failed(c, &phone.id)?, 1);
    store::devices::sip_succeeded(c, &phone.id)?;
    assert_eq!(
        store::devices::find_sip_account(c, "101")?
            .unwrap()
            .sip_failures,
        0
    );
    let binding = |contact: &str, expires_at| store::registrations::Registration {
        device_id: phone.id.clone(),
        contact: contact.into(),
        user_id: aid.to_string(),
        source: "udp:127.0.0.1:5062".into(),
        path: Some("<sip:proxy;lr>".into()),
        call_id: "c1".into(),
        cseq: 1,
        node_id: "n1".into(),
        user_agent: Some("baresip".into()),
        expires_at,
        updated_at: now,
    };
    use store::registrations::{Change, Refusal};
    let live = store::registrations::apply(
        c,
        &phone.id,
        "c1",
        1,
        vec![
            Change::Bind(binding("sip:a@h", now + chrono::Duration::minutes(10))),
            Change::Bind(binding("sip:b@h", now - chrono::Duration::minutes(1))),
        ],
        now,
    )?
    .unwrap();
    assert_eq!(live.len(), 1, "an expired binding is not live");
    assert_eq!(
        store::registrations::apply(c, &phone.id, "c1", 1, Vec::new(), now)?,
        Err(Refusal::OutOfOrder)
    );
    assert_eq!(store::registrations::of_user(c, aid, now)?.len(), 1);
    assert_eq!(store::registrations::sweep(c, now)?, 1, "the expired one");
    assert!(store::devices::clear_sip_credentials(c, aid, &phone.id)?);
    assert!(store::registrations::of_user(c, aid, now)?.is_empty());
    assert!(store::devices::find_sip_account(c, "101")?.is_none());
    assert_eq!(store::devices::list_for_user(c, aid)?.len(), 2);
    assert!(
        !store::devices::delete(c, bid, &phone.id)?,
        "only the owner's"
    );
    assert!(store::devices::delete(c, aid, &phone.id)?);

    store::groups::set_contact(c, aid, bid, Some(4))?;
    store::groups::set_contact(c, aid, bid, Some(5))?;
    assert_eq!(store::groups::list_contacts(c, aid)?[0].1, Some(5));
    assert!(store::groups::set_contact(c, aid, aid, None).is_err());
    assert!(store::groups::remove_contact(c, aid, bid)?);
    let g = store::groups::create(c, "777", "Seven", Some(aid))?;
    store::groups::set_members(c, &g.id, &[aid.clone(), bid.clone()])?;
    store::groups::rename(c, &g.id, "Sevens")?;
    assert!(
        store::groups::list_owned(c, aid)?
            .iter()
            .any(|o| o.id == g.id && o.name == "Sevens")
    );
    assert_eq!(store::groups::list_members(c, &g.id)?.len(), 2);
    assert!(store::groups::find_owned(c, bid, &g.id)?.is_none());
    store::groups::delete(c, &g.id)?;
    assert!(store::groups::find_by_number(c, "777")?.is_none());

    let now = store::now();
    let node = store::nodes::Node {
        id: "node-1".into(),
        services: "ivr,portal".into(),
        host: "here".into(),
        pid: 42,
        started_at: now,
        heartbeat_at: now,
        active_calls: Some(3),
    };
    store::nodes::heartbeat(c, &node)?;
    store::nodes::heartbeat(c, &node)?;
    assert_eq!(
        store::nodes::list_recent(c, now - chrono::Duration::minutes(1))?,
        vec![node]
    );
    store::nodes::remove(c, "node-1")?;

    // Leases: one holder at a time; its own renewal succeeds; free again when released or
    // expired.
    let later = now + chrono::Duration::seconds(15);
    assert!(store::claims::take(c, "email:a1", "n1", later)?);
    assert!(store::claims::take(c, "email:a1", "n1", later)?, "renewal");
    assert!(!store::claims::take(c, "email:a1", "n2", later)?);
    store::claims::release(c, "email:a1", "n2")?;
    assert!(
        !store::claims::take(c, "email:a1", "n2", later)?,
        "only the holder releases"
    );
    store::claims::release(c, "email:a1", "n1")?;
    assert!(store::claims::take(c, "email:a1", "n2", now)?);
    assert!(
        store::claims::take(c, "email:a1", "n3", later)?,
        "an expired lease is taken over"
    );

    let lines: Vec<_> = (0..store::plugins::KEEP_LOG_LINES + 5)
        .map(|i| store::plugins::LogLine {
            plugin: "p".into(),
            at: now,
            level: "info".into(),
            message: format!("line {i}"),
        })
        .collect();
    store::plugins::add_logs(c, &lines)?;
    let kept = store::plugins::recent_logs(c, "p", 1000)?;
    assert_eq!(kept.len() as i64, store::plugins::KEEP_LOG_LINES);
    assert_eq!(
        kept[0].message,
        format!("line {}", store::plugins::KEEP_LOG_LINES + 4)
    );
    store::outbox::list_pending(c, 5)?;
    Ok(())
}

async fn check(store: Store) {
    assert_eq!(store.migrate().unwrap(), 11);
    assert_eq!(store.migrate().unwrap(), 0, "migrations are idempotent");
    // Statement by statement: a deliberately refused insert must not abort the rest (as it
    // would inside one PostgreSQL transaction). Rollback has its own test below.
    store.run(every_table).await.unwrap();
}

#[tokio::test]
async fn sqlite_schema_matches_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/hark.db").display());
    check(Store::open(&url, 4).unwrap()).await;
}

#[tokio::test]
async fn postgres_schema_matches_migrations() {
    let db = PgDb::create();
    check(Store::open(&db.url(), 4).unwrap()).await;
}

#[tokio::test]
async fn a_failed_transaction_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hark.db").display());
    let store = Store::open(&url, 2).unwrap();
    store.migrate().unwrap();
    let r: Result<(), StoreError> = store
        .transaction(|c| {
            user(c, "101");
            Err(StoreError::Conflict("changed my mind".into()))
        })
        .await;
    assert!(r.is_err());
    assert!(store.run(users::list).await.unwrap().is_empty());
}
