//! The profile and admin pages over HTTP, as a browser without scripts uses them, in both
//! modes: delivery rules, quiet hours and sender rules that change how the next message is
//! planned; an e-mail device verified through the link it was sent and then used; contacts,
//! speed dials and groups; a recorded name; admins creating, disabling and re-PINning people,
//! and a plugin uploaded in the portal changing routing (a refused one changing nothing).
//!
//! Over 500 lines on purpose: one scenario per test, each read top to bottom as a person uses
//! the pages; the helpers they share live in `support/`.

mod support;

use chrono::Timelike;
use hark::demo::DEMO_PASSWORD;
use reqwest::{
    StatusCode,
    multipart::{Form, Part},
};
use support::{Mode, Stack, audio::sine_wav, both_modes, eventually, web::WebSession};

/// Minutes after midnight, UTC, as `HH:MM`.
fn clock(minute: i64) -> String {
    let m = minute.rem_euclid(24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Quiet hours that end at the next minute hold Bob's e-mail until then, the sender sees
/// when it will go, and then it goes.
async fn quiet_hours_hold_then_deliver(mode: Mode) {
    let stack = Stack::start(mode).await;
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let alice = stack.login("101").await;
    let now = chrono::Utc::now();
    let minute = i64::from(now.hour() * 60 + now.minute());
    let (status, body) = bob
        .post(
            "/profile/delivery",
            &[
                ("channel", "email"),
                ("delay", "0"),
                ("quiet", "on"),
                ("quiet_from", &clock(minute - 60)),
                ("quiet_to", &clock(minute + 1)),
                ("quiet_allow", "popup"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 0.5, 16_000))
        .await;
    assert_eq!(stack.attempts(&id).await, [("email".into(), None, 0)]);
    let rows = stack.attempt_rows(&id).await;
    let due = rows[0].due_at.and_utc();
    let end = (now + chrono::Duration::minutes(1))
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap();
    assert!(
        (due - end).num_seconds().abs() <= 60,
        "held until quiet hours end at {end}: due {due}"
    );
    // The sender is told when it will go and how; so is her dashboard.
    let m = stack.message(&alice, &id).await;
    let bob_seat = support::recipient(&m, "102");
    assert_eq!(bob_seat["state"], "queued", "{m}");
    assert_eq!(bob_seat["next_try"]["channel"], "email", "{m}");
    let alice_web = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let (_, page) = alice_web.get("/").await.unwrap();
    assert!(
        page.contains("next try ") && page.contains(" by e-mail"),
        "{page}"
    );
    // When quiet hours end, it goes (bounded: at most the minute's rest and a margin).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(130);
    loop {
        let m = stack.message(&alice, &id).await;
        let seat = support::recipient(&m, "102");
        let delivered = seat["receipts"].as_array().and_then(|r| {
            r.iter()
                .find(|x| x["kind"] == "delivered")
                .and_then(|x| x["at"].as_str())
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        });
        if let Some(at) = delivered {
            assert!(seat.get("next_try").is_none(), "{m}");
            assert!(
                at >= due - chrono::Duration::seconds(1),
                "delivered at {at}, before quiet hours ended ({due})"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered after quiet hours ended: {m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let mail = stack
        .wait_emails(|e| e.iter().any(|m| m.to == "bob@example.org"))
        .await;
    assert_eq!(mail.iter().filter(|m| m.to == "bob@example.org").count(), 1);
    stack.stop().await;
}

async fn rules_change_the_next_delivery(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = stack.login("101").await;
    let carol = stack.login("103").await;
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let (status, _) = bob
        .post(
            "/profile/details",
            &[
                ("display_name", "Bob Baker"),
                ("timezone", "UTC"),
                ("phone", ""),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);

    // No rules: the default (e-mail at once).
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 0.5, 16_000))
        .await;
    assert_eq!(stack.attempts(&id).await, [("email".into(), None, 0)]);

    // Pop-up at once, e-mail after 5 minutes.
    let (status, body) = bob
        .post(
            "/profile/delivery",
            &[
                ("channel", "popup"),
                ("device", ""),
                ("delay", "0"),
                ("channel", "email"),
                ("device", ""),
                ("delay", "5"),
                ("channel", ""),
                ("device", ""),
                ("delay", ""),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 0.5, 16_000))
        .await;
    assert_eq!(
        stack.attempts(&id).await,
        [("popup".into(), None, 0), ("email".into(), None, 300)]
    );

    // Messages from Carol only by e-mail.
    let (status, body) = bob
        .post(
            "/profile/senders",
            &[("sender", "103"), ("channel", "email"), ("delay", "0")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = stack
        .send(&carol, "102", sine_wav(440.0, 0.5, 16_000))
        .await;
    assert_eq!(stack.attempts(&id).await, [("email".into(), None, 0)]);
    let (_, page) = bob.get("/profile").await.unwrap();
    assert!(page.contains("From 103: E-mail with a link"), "{page}");
    assert!(
        page.contains("messages come by the defaults: <strong>E-mail with a link</strong>"),
        "the page says what the defaults are: {page}"
    );

    // Quiet now: what quiet hours allow (the pop-up) goes at once, the rest waits until they
    // end (in an hour) and then its own 5 minutes, unless the message is urgent.
    let now = chrono::Utc::now();
    let minute = i64::from(now.hour() * 60 + now.minute());
    let (status, body) = bob
        .post(
            "/profile/delivery",
            &[
                ("channel", "popup"),
                ("delay", "0"),
                ("channel", "email"),
                ("delay", "5"),
                ("quiet", "on"),
                ("quiet_from", &clock(minute - 60)),
                ("quiet_to", &clock(minute + 60)),
                ("quiet_allow", "popup"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 0.5, 16_000))
        .await;
    let held = stack.attempts(&id).await;
    assert_eq!(held.len(), 2, "{held:?}");
    assert_eq!(held[0], ("popup".into(), None, 0));
    assert_eq!(held[1].0, "email");
    // (The plan counts whole minutes of Bob's clock: one may turn over while it is made.)
    assert!(
        (3540 + 300..=3600 + 300).contains(&held[1].2),
        "the e-mail waits for the end of quiet hours: {held:?}"
    );

    // The rule found failing silently: messages from Carol ring Bob's phone, but he has none.
    // The defaults carry it instead (e-mail, held by the quiet hours like the rest).
    let (status, body) = bob
        .post(
            "/profile/senders",
            &[("sender", "103"), ("channel", "callback"), ("delay", "0")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = stack
        .send(&carol, "102", sine_wav(440.0, 0.5, 16_000))
        .await;
    assert_eq!(stack.attempts(&id).await, [("email".into(), None, 0)]);
    let rows = stack.attempt_rows(&id).await;
    let wait = (rows[0].due_at - chrono::Utc::now().naive_utc()).num_seconds();
    assert!(
        (3400..=3600).contains(&wait),
        "held until quiet hours end, {wait} s from now"
    );
    assert_ne!(rows[0].state, "failed");

    let id = stack
        .send(&alice, "102&urgent=true", sine_wav(440.0, 0.5, 16_000))
        .await;
    assert_eq!(
        stack.attempts(&id).await,
        [("popup".into(), None, 0), ("email".into(), None, 300)]
    );

    // Nonsense is refused with the reason, and the rules stay as they were.
    for (fields, why) in [
        (
            vec![("channel", "fax"), ("delay", "0")],
            "no channel called",
        ),
        (
            vec![("channel", "email"), ("delay", "soon")],
            "not a number",
        ),
        (
            vec![("channel", "email"), ("device", "someone-elses-device")],
            "not one of yours",
        ),
        (
            vec![
                ("channel", "email"),
                ("quiet", "on"),
                ("quiet_from", "25:00"),
                ("quiet_to", "07:00"),
            ],
            "Quiet hours",
        ),
    ] {
        let (status, body) = bob.post("/profile/delivery", &fields).await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(body.contains(why), "{why}: {body}");
    }
    let (status, _) = bob
        .post(
            "/profile/senders",
            &[("sender", "999"), ("channel", "email")],
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown sender"
    );
    let id = stack
        .send(&alice, "102&urgent=true", sine_wav(440.0, 0.5, 16_000))
        .await;
    assert_eq!(
        stack.attempts(&id).await.len(),
        2,
        "the rules are unchanged"
    );
    stack.stop().await;
}

async fn an_email_device_is_verified_then_used(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = stack.login("101").await;
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let (added, _) = bob
        .submit(
            "/profile",
            "device-form",
            &[("kind", "email"), ("address", "bob.home@example.net")],
        )
        .await
        .unwrap();
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.page);
    let page = added.page;
    assert!(page.contains("We sent a link to bob.home@example.net"));
    assert!(page.contains("waiting for confirmation"));
    let device = {
        let at = page.find("data-device=\"").unwrap() + "data-device=\"".len();
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    };
    // Not usable before it is verified.
    let (status, body) = bob
        .post(
            "/profile/delivery",
            &[("channel", "email"), ("device", &device)],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let mails = stack
        .wait_emails(|e| e.iter().any(|m| m.to == "bob.home@example.net"))
        .await;
    let mail = mails
        .iter()
        .find(|m| m.to == "bob.home@example.net")
        .unwrap();
    assert!(mail.subject.contains("Confirm"), "{}", mail.subject);
    let link = mail.link();
    let path = &link[link.find("/verify/").unwrap()..];
    // A tampered token verifies nothing; opening the link alone does not either.
    let anon = WebSession::anonymous(&stack.base);
    let tampered = format!("{}x", path);
    let (status, _) = anon.post_raw(&tampered, &[]).await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, page) = anon.get(path).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Confirm your e-mail address"));
    let (_, profile) = bob.get("/profile").await.unwrap();
    assert!(profile.contains("waiting for confirmation"));
    let (status, page) = anon.post_raw(path, &[]).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("bob.home@example.net is confirmed"));
    let (_, profile) = bob.get("/profile").await.unwrap();
    assert!(!profile.contains("waiting for confirmation"));

    // Now a step can send there, and the message's e-mail goes to that address, with the
    // recording attached as he asks.
    let (status, body) = bob
        .post(
            "/profile/delivery",
            &[
                ("channel", "email"),
                ("device", &device),
                ("delay", "0"),
                ("attach", "on"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 0.5, 16_000))
        .await;
    assert_eq!(
        stack.attempts(&id).await,
        [("email".into(), Some(device.clone()), 0)]
    );
    let mails = stack
        .wait_emails(|e| {
            e.iter()
                .any(|m| m.to == "bob.home@example.net" && m.subject.contains("Voice message"))
        })
        .await;
    assert!(
        !mails
            .iter()
            .any(|m| m.to == "bob@example.org" && m.subject.contains("Voice message")),
        "the account address got nothing"
    );
    let mail = mails
        .iter()
        .find(|m| m.to == "bob.home@example.net" && m.subject.contains("Voice message"))
        .unwrap();
    assert_eq!(mail.attachments.len(), 1, "the recording is attached");
    assert_eq!(mail.attachments[0].0, "voice-message.wav");
    let attached = hark_core::audio::decode(&mail.attachments[0].1, 60).unwrap();
    let secs = attached.samples.len() as f64 / f64::from(attached.sample_rate);
    assert!((secs - 0.5).abs() < 0.1, "{secs} s attached");
    assert_eq!(
        support::audio::dominant(
            &attached.samples,
            attached.sample_rate,
            &[300.0, 440.0, 1000.0]
        ),
        440.0
    );
    // Someone else cannot remove Bob's device.
    let carol = WebSession::login(&stack.base, "103", DEMO_PASSWORD).await;
    let (status, _) = carol
        .post(&format!("/profile/devices/{device}/delete"), &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    stack.stop().await;
}

async fn contacts_groups_and_my_name(mode: Mode) {
    let stack = Stack::start(mode).await;
    let dan = WebSession::login(&stack.base, "104", DEMO_PASSWORD).await;
    // Contacts and speed dials: a digit belongs to one contact at a time.
    for (ext, dial) in [("101", "1"), ("103", "1")] {
        let (status, body) = dan
            .post(
                "/profile/contacts",
                &[("extension", ext), ("speed_dial", dial)],
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    }
    // Taking a digit from another contact says so.
    let moved = dan
        .resubmit(
            "/profile/contacts",
            &[("extension", "103"), ("speed_dial", "1")],
        )
        .await
        .unwrap();
    assert!(
        moved.page.contains("Contact saved.") && !moved.page.contains("moved to them"),
        "Carol had it already: {}",
        moved.page
    );
    let moved = dan
        .resubmit(
            "/profile/contacts",
            &[("extension", "101"), ("speed_dial", "1")],
        )
        .await
        .unwrap();
    assert!(
        moved
            .page
            .contains("Speed dial 1 moved to them from Carol Chen (103)."),
        "{}",
        moved.page
    );
    let back = dan
        .resubmit(
            "/profile/contacts",
            &[("extension", "103"), ("speed_dial", "1")],
        )
        .await
        .unwrap();
    assert!(
        back.page.contains("from Alice Archer (101)"),
        "{}",
        back.page
    );
    let (_, page) = dan.get("/profile").await.unwrap();
    let row = |ext: &str| {
        let at = page.find(&format!("data-contact=\"{ext}\"")).unwrap();
        page[at..at + page[at..].find("</tr>").unwrap()].to_owned()
    };
    let dial_one = r#"<td data-label="Speed dial">1</td>"#;
    assert!(row("103").contains(dial_one), "{}", row("103"));
    assert!(!row("101").contains(dial_one), "{}", row("101"));
    let (status, _) = dan
        .post(
            "/profile/contacts",
            &[("extension", "555"), ("speed_dial", "")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "nobody has 555");

    // A group with a dialable number reaches its members.
    let (status, body) = dan
        .post(
            "/profile/groups",
            &[
                ("number", "250"),
                ("name", "Night shift"),
                ("members", "101, 103"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, _) = dan
        .post(
            "/profile/groups",
            &[("number", "101"), ("name", "Taken"), ("members", "")],
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an extension's number"
    );
    let token = stack.login("104").await;
    let id = stack
        .send(&token, "250", sine_wav(440.0, 0.5, 16_000))
        .await;
    let m = stack.message(&token, &id).await;
    let mut to: Vec<&str> = m["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["extension"].as_str().unwrap())
        .collect();
    to.sort_unstable();
    assert_eq!(to, ["101", "103"]);
    // Only its owner changes it.
    let (_, page) = dan.get("/profile").await.unwrap();
    let gid = {
        let at =
            page.find("action=\"/profile/groups/").unwrap() + "action=\"/profile/groups/".len();
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    };
    let carol = WebSession::login(&stack.base, "103", DEMO_PASSWORD).await;
    let (status, _) = carol
        .post(
            &format!("/profile/groups/{gid}"),
            &[("name", "Mine now"), ("members", "103")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);

    // My name: an upload replaces the spoken fallback and plays back.
    let (status, _) = dan.get_bytes("/profile/name.wav").await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "no name yet");
    let upload = |bytes: Vec<u8>, csrf: String| {
        let form = Form::new()
            .text("csrf", csrf)
            .part("audio", Part::bytes(bytes).file_name("name.wav"));
        dan.http
            .post(format!("{}/profile/name", stack.base))
            .multipart(form)
            .send()
    };
    let r = upload(b"definitely not audio".to_vec(), dan.csrf.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = upload(sine_wav(440.0, 1.5, 16_000), "forged".into())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = upload(sine_wav(440.0, 1.5, 16_000), dan.csrf.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, wav) = dan.get_bytes("/profile/name.wav").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let decoded = hark_core::audio::decode(&wav, 60).unwrap();
    let secs = decoded.samples.len() as f64 / f64::from(decoded.sample_rate);
    assert!((secs - 1.5).abs() < 0.1, "{secs} s");
    let r = upload(sine_wav(440.0, 12.0, 16_000), dan.csrf.clone())
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a name is at most 10 s"
    );
    stack.stop().await;
}

async fn admins_manage_people_and_plugins(mode: Mode) {
    // A dozen sign-ins as five people from one address: more than the default per-minute limit.
    let stack = Stack::start_with(mode, |c| c.portal.login_per_minute = 30).await;
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    for page in ["/admin", "/admin/plugins", "/admin/system"] {
        let (status, _) = bob.get(page).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{page} for a non-admin");
    }
    let (status, _) = bob
        .post(
            "/admin/users",
            &[
                ("extension", "150"),
                ("display_name", "Eve"),
                ("password", "0123456789"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);

    let admin = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let made = admin
        .resubmit(
            "/admin/users",
            &[
                ("extension", "150"),
                ("display_name", "Erin <b>Eve</b>"),
                ("email", "erin@example.org"),
                ("password", "a long enough password"),
                ("pin", "2468"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.page);
    assert!(
        made.page
            .contains("Erin &#60;b&#62;Eve&#60;/b&#62; (150) can sign in now")
    );
    let (status, _) = admin
        .post(
            "/admin/users",
            &[
                ("extension", "150"),
                ("display_name", "Twice"),
                ("pin", "1357"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the extension is taken"
    );
    let erin = WebSession::login(&stack.base, "150", "a long enough password").await;
    let (status, _) = erin.get("/").await.unwrap();
    assert_eq!(status, StatusCode::OK);

    // Disabling ends her session at once and refuses her password.
    let (status, _) = admin
        .post("/admin/users/150/disabled", &[("disabled", "1")])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = erin.get("/").await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out");
    let mut again = WebSession::anonymous(&stack.base);
    let (status, _) = again
        .try_login("150", "a long enough password")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = admin
        .post("/admin/users/150/disabled", &[("disabled", "0")])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = again
        .try_login("150", "a long enough password")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set = admin
        .resubmit("/admin/users/150/pin", &[("pin", "97531")])
        .await
        .unwrap();
    assert_eq!(set.status, StatusCode::SEE_OTHER);
    assert!(set.page.contains("New PIN set for 150"));
    let (status, _) = admin
        .post("/admin/users/150/pin", &[("pin", "12")])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The admin corrects her name and e-mail, then gives her a new password: her session
    // ends, the old password stops working and the new one works.
    let erin = WebSession::login(&stack.base, "150", "a long enough password").await;
    let (saved, _) = admin
        .submit(
            "/admin",
            "edit-150",
            &[
                ("display_name", "Erin Evans"),
                ("email", "erin.evans@example.org"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.page);
    assert!(saved.page.contains("150 saved."), "{}", saved.page);
    let erin_now = stack.user("150").await;
    assert_eq!(
        (erin_now.display_name.as_str(), erin_now.email.as_deref()),
        ("Erin Evans", Some("erin.evans@example.org"))
    );
    let (status, _) = erin.get("/").await.unwrap();
    assert_eq!(status, StatusCode::OK, "no new password: still signed in");
    let (status, page) = admin
        .post(
            "/admin/users/150/edit",
            &[("display_name", "Erin Evans"), ("password", "short")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let (reset, _) = admin
        .submit(
            "/admin",
            "edit-150",
            &[
                ("display_name", "Erin Evans"),
                ("email", "erin.evans@example.org"),
                ("password", "a brand new password"),
            ],
        )
        .await
        .unwrap();
    assert!(reset.page.contains("with a new password"), "{}", reset.page);
    let (status, _) = erin.get("/").await.unwrap();
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "signed out by the new password"
    );
    let (status, _) = again
        .try_login("150", "a long enough password")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = again
        .try_login("150", "a brand new password")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Erin leaves a message for Bob, then is removed: she can no longer sign in, her
    // extension is free for someone new, and Bob's inbox still says who the message is from.
    let erin_token: serde_json::Value = stack
        .http
        .post(format!("{}/api/v1/login", stack.base))
        .json(&serde_json::json!({"extension": "150", "password": "a brand new password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let from_erin = stack
        .send(
            erin_token["token"].as_str().unwrap(),
            "102",
            sine_wav(440.0, 0.5, 16_000),
        )
        .await;
    let erin = WebSession::login(&stack.base, "150", "a brand new password").await;
    let (removed, _) = admin.submit("/admin", "remove-150", &[]).await.unwrap();
    assert!(
        removed
            .page
            .contains("Erin Evans (150) is removed; their extension is free."),
        "{}",
        removed.page
    );
    assert!(
        !removed.page.contains(r#"data-user="150""#),
        "{}",
        removed.page
    );
    let (status, _) = erin.get("/").await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "her session ended");
    let (status, _) = again
        .try_login("150", "a brand new password")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, page) = bob.get("/").await.unwrap();
    assert!(
        page.contains(&format!(r#"data-message="{from_erin}""#))
            && page.contains("Erin Evans (removed)"),
        "{page}"
    );
    let (status, page) = admin
        .post(
            "/admin/users",
            &[
                ("extension", "150"),
                ("display_name", "Frank"),
                ("pin", "1357"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "150 is free again: {page}");
    // Groups of the organisation: the admin makes one, a message to its number reaches its
    // members and its sender sees it went to the group; renamed, then removed.
    let (made, _) = admin
        .submit(
            "/admin/groups",
            "new-group",
            &[
                ("number", "300"),
                ("name", "Sales"),
                ("members", "102, 103"),
            ],
        )
        .await
        .unwrap();
    assert!(
        made.page.contains("Group Sales (300) made."),
        "{}",
        made.page
    );
    assert!(made.page.contains(r#"value="102, 103""#), "{}", made.page);
    let alice_token = stack.login("101").await;
    let to_sales = stack
        .send(&alice_token, "300", sine_wav(440.0, 0.5, 16_000))
        .await;
    let m = stack.message(&alice_token, &to_sales).await;
    assert_eq!(m["sent_to"], "Sales (300)", "{m}");
    assert_eq!(m["recipients"].as_array().map(Vec::len), Some(2), "{m}");
    let (_, page) = admin.get("/").await.unwrap();
    assert!(page.contains("To Sales (300)"), "{page}");
    let (saved, _) = admin
        .submit(
            "/admin/groups",
            "group-300",
            &[("name", "Sales and support"), ("members", "102")],
        )
        .await
        .unwrap();
    assert!(
        saved.page.contains("Group Sales and support (300) saved."),
        "{}",
        saved.page
    );
    let (_, page) = admin.get("/admin/groups").await.unwrap();
    let save = support::web::form_action(&page, "group-300").expect("the group's form");
    let path = save.split('?').next().unwrap();
    let gone = admin
        .resubmit(&format!("{path}/delete"), &[])
        .await
        .unwrap();
    assert!(
        gone.page.contains("Group Sales and support (300) removed."),
        "{}",
        gone.page
    );
    assert!(!gone.page.contains(r#"data-group="300""#), "{}", gone.page);
    let (status, _) = bob.get("/admin/groups").await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, page) = admin.post("/admin/users/101/remove", &[]).await.unwrap();
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not yourself: {page}"
    );

    // Plugins: a hostile upload is refused with the reason and changes nothing.
    let (status, page) = admin
        .upload_plugin(hark_test_plugins::bytes(hark_test_plugins::SOCKETS), "")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("wasi:sockets"), "{page}");
    assert!(
        stack
            .app
            .deps
            .store
            .run(hark_core::store::plugins::list)
            .await
            .unwrap()
            .is_empty()
    );
    let (status, page) = admin.upload_plugin(b"\0asm garbage".to_vec(), "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    // A core module (what a plain wasm32 build makes) is refused in words, and how to fix it.
    let (status, page) = admin.upload_plugin(b"\0asm\x01\0\0\0".to_vec(), "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains("Refused: this is a core WebAssembly module, not a component")
            && page.contains("wasm32-wasip2")
            && page.contains("Nothing was changed.\n"),
        "{page}"
    );

    // A valid one is reported, installed, and changes the next plan.
    stack.give_bob_a_phone().await;
    let (status, page) = admin
        .upload_plugin(
            hark_test_plugins::bytes(hark_test_plugins::URGENT_ESCALATION),
            r#"{"repeat_secs": 120}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("urgent-escalation"), "{page}");
    assert!(page.contains("is installed"), "{page}");
    assert!(
        page.contains("Configuration now: <code>{&#34;repeat_secs&#34;: 120}</code>"),
        "the admin sees the configuration in force: {page}"
    );
    let alice = stack.login("101").await;
    eventually("routers to use the uploaded plugin", || async {
        let id = stack
            .send(&alice, "102&urgent=true", sine_wav(440.0, 0.5, 16_000))
            .await;
        let plan = stack.attempts(&id).await;
        plan.iter().any(|a| a.0 == "callback").then_some(())
    })
    .await;
    // Its configuration is checked again when changed: nonsense is refused, a good one taken.
    let (status, page) = admin
        .post(
            "/admin/plugins/urgent-escalation",
            &[("action", "config"), ("config", "{not json")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("configuration was not changed"), "{page}");
    let (status, page) = admin
        .post(
            "/admin/plugins/urgent-escalation",
            &[("action", "config"), ("config", r#"{"repeat_secs": 60}"#)],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    let stored = stack
        .app
        .deps
        .store
        .run(|c| hark_core::store::plugins::find_by_name(c, "urgent-escalation"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.config, r#"{"repeat_secs": 60}"#);
    let (_, page) = admin.get("/admin/plugins").await.unwrap();
    assert!(page.contains("data-plugin=\"urgent-escalation\""));
    assert!(page.contains("badge available\">enabled"));
    // Disabled in the portal: the profile decides again.
    let (status, _) = admin
        .post("/admin/plugins/urgent-escalation", &[("action", "disable")])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    eventually("routers to drop the disabled plugin", || async {
        let id = stack
            .send(&alice, "102&urgent=true", sine_wav(440.0, 0.5, 16_000))
            .await;
        (stack.attempts(&id).await == [("email".to_owned(), None, 0)]).then_some(())
    })
    .await;
    let (status, _) = admin
        .post("/admin/plugins/no-such-plugin", &[("action", "enable")])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The system page: the database and bus, this node, the queues.
    let (status, page) = eventually("this node on the system page", || async {
        let (status, page) = admin.get("/admin/system").await.unwrap();
        page.contains("data-node=").then_some((status, page))
    })
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-queue=\"notify.email\""), "{page}");
    assert!(page.contains("data-queue=\"router.events\""));
    stack.stop().await;
}

/// Someone nothing can reach (the defaults call phones; Bob has none) fails at once, and the
/// sender sees why on the dashboard and in the API.
async fn a_person_nothing_can_reach_fails_saying_why(mode: Mode) {
    let stack = Stack::start_with(mode, |c| {
        c.router.default_channels = vec!["callback".into()];
    })
    .await;
    let alice = stack.login("101").await;
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 0.5, 16_000))
        .await;
    let m = stack.wait_receipt(&alice, &id, "102", "failed").await;
    let why = support::recipient(&m, "102")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        why.starts_with("nothing can reach Bob Baker") && why.ends_with("(no phone)"),
        "{m}"
    );
    let web = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let (_, page) = web.get("/").await.unwrap();
    assert!(page.contains("nothing can reach Bob Baker"), "{page}");
    stack.stop().await;
}

both_modes!(
    quiet_hours_hold_then_deliver,
    a_person_nothing_can_reach_fails_saying_why,
    rules_change_the_next_delivery,
    an_email_device_is_verified_then_used,
    contacts_groups_and_my_name,
    admins_manage_people_and_plugins,
);
