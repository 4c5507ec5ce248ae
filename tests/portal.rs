//! The web portal over HTTP and its WebSocket, as a browser uses them: signing in and out,
//! CSRF on every form, lockout and rate limits, the dashboard's inbox and receipts, another
//! person's message ids, live presence and receipts over the socket, API tokens, and script
//! in names shown as text.
//!
//! Over 500 lines on purpose: one scenario per test, each read top to bottom as a person uses
//! the portal; the helpers they share live in `support/`.

mod support;

use hark::demo::DEMO_PASSWORD;
use reqwest::StatusCode;
use support::{Mode, Stack, audio, both_modes, web::WebSession};

async fn signing_in_and_out(mode: Mode) {
    let stack = Stack::start(mode).await;
    // Pages need a session: the dashboard sends a stranger to the login form.
    let stranger = WebSession::anonymous(&stack.base);
    let r = stranger
        .http
        .get(format!("{}/account", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=/account");

    let mut s = WebSession::anonymous(&stack.base);
    let (status, body) = s.try_login("101", "wrong password").await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Wrong extension or password"), "{body}");
    let (status, _) = s.try_login("101", DEMO_PASSWORD).await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, page) = s.get("/").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Alice Archer"),
        "the dashboard names who is signed in"
    );
    assert!(page.contains("Bob Baker"), "and lists the contacts");

    // The session cookie is HttpOnly and SameSite.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/login", stack.base))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-security-policy").is_some());
    let cookie = s.cookie();
    assert!(cookie.contains("hark_session="), "{cookie}");

    // Signing out ends the session on the server, not just in this browser.
    let old_cookie = s.cookie();
    let (status, _) = s.post("/logout", &[]).await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/", stack.base))
        .header("cookie", old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        replay.status(),
        StatusCode::SEE_OTHER,
        "an ended session is refused"
    );
    stack.stop().await;
}

async fn forms_need_the_csrf_token(mode: Mode) {
    let stack = Stack::start(mode).await;
    let s = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let (status, _) = s.post_raw("/status", &[("status", "busy")]).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "no token");
    let (status, _) = s
        .post_raw("/status", &[("status", "busy"), ("csrf", "forged")])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "a wrong token");
    // Another person's token is not this session's.
    let other = WebSession::login(&stack.base, "103", DEMO_PASSWORD).await;
    let (status, _) = s
        .post_raw("/status", &[("status", "busy"), ("csrf", &other.csrf)])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "someone else's token");
    let (_, page) = s.get("/").await.unwrap();
    assert!(
        page.contains(r#"<option value="available" selected>"#),
        "nothing changed"
    );
    let (status, _) = s.post("/status", &[("status", "busy")]).await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = s.get("/").await.unwrap();
    assert!(page.contains(r#"<option value="busy" selected>"#), "{page}");
    // The login form is protected too: a post without the form's cookie is refused.
    let bare = reqwest::Client::new()
        .post(format!("{}/login", stack.base))
        .form(&[
            ("extension", "102"),
            ("password", DEMO_PASSWORD),
            ("csrf", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    stack.stop().await;
}

async fn wrong_passwords_lock_the_account(mode: Mode) {
    let stack = Stack::start_with(mode, |c| {
        c.portal.login_attempts = 3;
        c.portal.login_per_minute = 100;
    })
    .await;
    let mut s = WebSession::anonymous(&stack.base);
    for _ in 0..2 {
        let (status, _) = s.try_login("103", "guess").await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = s.try_login("103", "guess").await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body.contains("locked"),
        "the third wrong password locks: {body}"
    );
    let (status, body) = s.try_login("103", DEMO_PASSWORD).await.unwrap();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "even the right password, while locked"
    );
    assert!(body.contains("locked"));
    let api = stack
        .http
        .post(format!("{}/api/v1/login", stack.base))
        .json(&serde_json::json!({"extension": "103", "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.status(),
        StatusCode::FORBIDDEN,
        "the API honours the lock"
    );
    // Others are not affected.
    WebSession::login(&stack.base, "104", DEMO_PASSWORD).await;
    stack.stop().await;
}

async fn one_address_is_rate_limited(mode: Mode) {
    let stack = Stack::start_with(mode, |c| {
        c.portal.login_per_minute = 3;
        c.portal.login_attempts = 100;
    })
    .await;
    let mut s = WebSession::anonymous(&stack.base);
    for _ in 0..3 {
        let (status, _) = s.try_login("104", "guess").await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = s.try_login("104", DEMO_PASSWORD).await.unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    stack.stop().await;
}

async fn inbox_plays_and_the_sender_sees_heard(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = stack.login("101").await;
    let wav = audio::sine_wav(440.0, 1.5, 16_000);
    let id = stack.send(&alice, "102", wav).await;

    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let (_, page) = bob.get("/").await.unwrap();
    assert!(
        page.contains(&format!(r#"data-message="{id}""#)),
        "in Bob's inbox"
    );
    assert!(page.contains("badge new"), "as new");
    // Someone else's message is not found, and playing nothing marks nothing.
    let carol = WebSession::login(&stack.base, "103", DEMO_PASSWORD).await;
    let (status, _) = carol
        .get_bytes(&format!("/messages/{id}/audio"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = carol
        .post(&format!("/messages/{id}/delete"), &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, bytes) = bob
        .get_bytes(&format!("/messages/{id}/audio"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let (rate, samples) = audio::wav_so_far(&bytes).expect("a WAV");
    let got = audio::tone_ms(&samples, rate, 440.0);
    assert!(
        (1400..=1600).contains(&got),
        "Bob hears the 1.5 s tone ({got} ms)"
    );
    stack.wait_receipt(&alice, &id, "102", "heard").await;
    let row = format!(r#"<li data-message="{id}">"#);
    let unheard_row = format!(r#"<li data-message="{id}" class="unheard">"#);
    let (_, page) = bob.get("/").await.unwrap();
    assert!(
        page.contains(&row) && !page.contains("unheard-count"),
        "heard now: {page}"
    );

    // Marked unheard, it is new to Bob again (the sender's "heard" stays) until he plays it.
    let (done, _) = bob
        .submit("/", &format!("unheard-{id}"), &[])
        .await
        .unwrap();
    assert!(done.page.contains("marked unheard"), "{}", done.page);
    assert!(done.page.contains(&unheard_row), "{}", done.page);
    assert!(
        done.page.contains(r#"id="unheard-count">1 new"#),
        "{}",
        done.page
    );
    let (_, bytes) = bob
        .get_bytes(&format!("/messages/{id}/audio"))
        .await
        .unwrap();
    assert_eq!(audio::wav_so_far(&bytes).map(|(r, _)| r), Some(16_000));
    let (_, page) = bob.get("/").await.unwrap();
    assert!(page.contains(&row), "heard again");
    // A download is the message as a file, and is not hearing it.
    let r = bob
        .http
        .get(format!("{}/messages/{id}/audio?download=1", bob.base))
        .send()
        .await
        .unwrap();
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"hark-"),
        "{disposition}"
    );
    assert_eq!(r.bytes().await.unwrap(), bytes, "the same audio");

    // Deleted, it waits in the trash with an Undo; restored, it is back; the same form
    // sent again does nothing more.
    let (done, _) = bob.submit("/", &format!("delete-{id}"), &[]).await.unwrap();
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(done.page.contains("moved to the trash"), "{}", done.page);
    assert!(!done.page.contains(&row), "gone from the inbox");
    let undo = support::web::form_action(&done.page, "undo").expect("an Undo button");
    assert!(
        undo.starts_with(&format!("/messages/{id}/restore?once=")),
        "{undo}"
    );
    let (_, trash) = bob.get("/trash").await.unwrap();
    assert!(
        trash.contains(&format!(r#"data-message="{id}""#)),
        "{trash}"
    );
    let restored = bob.resubmit(&undo, &[]).await.unwrap();
    assert!(
        restored.page.contains("back in your inbox"),
        "{}",
        restored.page
    );
    assert!(restored.page.contains(&row), "{}", restored.page);
    let again = bob.resubmit(&undo, &[]).await.unwrap();
    assert!(again.page.contains("already sent"), "{}", again.page);
    let (_, trash) = bob.get("/trash").await.unwrap();
    assert!(
        !trash.contains(&format!(r#"data-message="{id}""#)),
        "{trash}"
    );

    let (status, _) = bob
        .post(&format!("/messages/{id}/delete"), &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = bob.get("/").await.unwrap();
    assert!(
        !page.contains(&format!(r#"data-message="{id}""#)),
        "gone from the inbox"
    );
    // The sender still has their receipt, and the sent list on the dashboard says so.
    let alice_web = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let (_, page) = alice_web.get("/").await.unwrap();
    assert!(page.contains("badge receipt heard"), "{page}");
    stack.stop().await;
}

/// The inbox pages 20 at a time, newest first, with links either way.
async fn the_inbox_pages_newest_first(mode: Mode) {
    use diesel::prelude::*;
    use hark_core::store::{messages, schema};
    let stack = Stack::start(mode).await;
    let (alice, carol) = (stack.user_id("101").await, stack.user_id("103").await);
    // 21 messages, a minute apart, the oldest first.
    let ids = stack
        .app
        .deps
        .store
        .run(move |c| {
            let mut ids = Vec::new();
            for i in 0..21i64 {
                let form = messages::MessageInsertForm {
                    id: hark_core::ids::MessageId::new(),
                    sender: alice.clone(),
                    origin: hark_core::events::Origin::Api,
                    duration_ms: 1000,
                    blob_key: format!("paging-{i}"),
                    urgent: i == 20,
                    recipients: vec![carol.clone()],
                };
                let m = messages::create_complete(c, &form)?;
                diesel::update(schema::messages::table.find(&m.id))
                    .set(
                        schema::messages::created_at
                            .eq(m.created_at - chrono::Duration::minutes(21 - i)),
                    )
                    .execute(c)?;
                ids.push(m.id);
            }
            Ok(ids)
        })
        .await
        .unwrap();
    let web = WebSession::login(&stack.base, "103", DEMO_PASSWORD).await;
    let rows = |page: &str| -> Vec<String> {
        page.match_indices(r#"<li data-message=""#)
            .map(|(at, m)| page[at + m.len()..].split('"').next().unwrap().to_owned())
            .collect()
    };
    let (_, first) = web.get("/").await.unwrap();
    let newest_first: Vec<String> = ids.iter().rev().take(20).cloned().collect();
    assert_eq!(
        rows(&first),
        newest_first,
        "page 1: the 20 newest, newest first"
    );
    assert!(first.contains(r#"<span class="badge urgent">urgent</span>"#));
    assert!(first.contains(r#"href="/?page=2" rel="next""#), "{first}");
    assert!(!first.contains(r#"rel="prev""#));
    assert!(first.contains(r#"id="unheard-count">21 new"#), "{first}");
    let (_, second) = web.get("/?page=2").await.unwrap();
    assert_eq!(rows(&second), vec![ids[0].clone()], "page 2: the oldest");
    assert!(second.contains(r#"href="/?page=1" rel="prev""#), "{second}");
    assert!(!second.contains(r#"rel="next""#));
    stack.stop().await;
}

/// A form token sent by someone not signed in is not written down, so strangers cannot use
/// up (or pile up) tokens: the same token from Bob's real form still acts.
async fn a_strangers_form_token_is_not_kept(mode: Mode) {
    let stack = Stack::start(mode).await;
    let action = format!("/status?once={}", &support::hex64()[..32]);
    let stranger = WebSession::anonymous(&stack.base);
    let (status, _) = stranger.post(&action, &[("status", "busy")]).await.unwrap();
    assert!(!status.is_success(), "{status}");
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let done = bob.resubmit(&action, &[("status", "busy")]).await.unwrap();
    assert!(done.page.contains("now see you as busy"), "{}", done.page);
    stack.stop().await;
}

async fn presence_and_receipts_arrive_live(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice_web = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let mut alice_tab = alice_web.socket().await.unwrap();
    alice_tab.expect("hello", |_| true).await;

    // Bob opens the portal: Alice sees him come online, with the status he chose.
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    bob.post("/status", &[("status", "busy")]).await.unwrap();
    let mut bob_tab = bob.socket().await.unwrap();
    bob_tab.expect("hello", |_| true).await;
    alice_tab.expect_presence("102", "busy").await;
    bob.post("/status", &[("status", "available")])
        .await
        .unwrap();
    alice_tab.expect_presence("102", "available").await;

    // Alice sends; Bob's tab hears of it; Bob plays it; Alice's tab gets the receipt.
    let alice = stack.login("101").await;
    let id = stack
        .send(&alice, "102", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    bob_tab
        .expect("inbox", |f| {
            f["message_id"] == id.as_str() && f["from"] == "Alice Archer"
        })
        .await;
    let (status, _) = bob
        .get_bytes(&format!("/messages/{id}/audio"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    alice_tab.expect_receipt(id.as_str(), "102", "heard").await;

    // Bob closes his last tab: offline.
    bob_tab.close().await;
    alice_tab.expect_presence("102", "offline").await;

    // Another site cannot open a socket with Alice's cookie.
    let refused = alice_web
        .socket_from(&alice_web.cookie(), "http://evil.example")
        .await;
    assert!(refused.is_err(), "a foreign Origin is refused");
    alice_tab.close().await;
    stack.stop().await;
}

/// The token shown once on the page a token form returns.
fn new_token(page: &str) -> String {
    let at = page
        .find(r#"id="new-token">"#)
        .expect("the new token, shown once")
        + 15;
    page[at..page[at..].find('<').unwrap() + at].to_owned()
}

async fn api_tokens_send_and_revoke(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let fields = [("name", "Grafana <alerts>"), ("send", "on"), ("read", "on")];
    let (made, action) = alice
        .submit("/account", "token-form", &fields)
        .await
        .unwrap();
    assert_eq!(made.status, StatusCode::OK);
    let page = made.page;
    let token = new_token(&page);
    assert!(
        page.contains("Grafana &#60;alerts&#62;"),
        "names are text, not markup"
    );
    // Reloading the page that shows the token makes no second one.
    let again = alice.resubmit(&action, &fields).await.unwrap();
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(again.page.contains("already sent"), "{}", again.page);
    assert_eq!(
        again.page.matches(r#"data-token=""#).count(),
        1,
        "one token"
    );
    let id = stack
        .send(&token, "102", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    assert!(!id.is_empty());
    let (_, page) = alice.get("/account").await.unwrap();
    assert!(!page.contains(&token), "never shown again");
    let at = page.find(r#"data-token=""#).expect("listed") + 12;
    let token_id = page[at..at + 16].to_owned();
    let revoked = alice
        .resubmit(&format!("/account/tokens/{token_id}/revoke"), &[])
        .await
        .unwrap();
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert!(revoked.page.contains("Token revoked"), "{}", revoked.page);
    let r = stack
        .upload(&token, "102", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a revoked token is refused"
    );

    // Scopes: a send-only token sends but cannot read; a read-only one reads but cannot
    // send; a token with neither is not made.
    let make = |scope: &'static str| {
        let alice = &alice;
        async move {
            let (status, page) = alice
                .post("/account/tokens", &[("name", scope), (scope, "on")])
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK);
            new_token(&page)
        }
    };
    let sender = make("send").await;
    let reader = make("read").await;
    let sent = stack
        .send(&sender, "102", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    let get = |token: String, path: String| {
        let http = stack.http.clone();
        let url = format!("{}{path}", stack.base);
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let detail = format!("/api/v1/messages/{sent}");
    assert_eq!(
        get(sender.clone(), detail.clone()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(get(reader.clone(), detail).await, StatusCode::OK);
    let r = stack
        .upload(&reader, "102", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a read-only token cannot send"
    );
    let (status, _) = alice
        .post("/account/tokens", &[("name", "nothing")])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    stack.stop().await;
}

async fn a_new_password_ends_other_sessions(mode: Mode) {
    let stack = Stack::start(mode).await;
    let laptop = WebSession::login(&stack.base, "104", DEMO_PASSWORD).await;
    let phone = WebSession::login(&stack.base, "104", DEMO_PASSWORD).await;
    let (status, page) = laptop
        .post(
            "/account/password",
            &[
                ("current", "not it"),
                ("new", "a much longer one"),
                ("confirm", "a much longer one"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("current password was not right"), "{page}");
    let changed = laptop
        .resubmit(
            "/account/password",
            &[
                ("current", DEMO_PASSWORD),
                ("new", "a much longer one"),
                ("confirm", "a much longer one"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.page);
    assert!(
        changed.page.contains("Password changed"),
        "{}",
        changed.page
    );
    let (status, _) = laptop.get("/").await.unwrap();
    assert_eq!(status, StatusCode::OK, "this session goes on");
    let (status, _) = phone.get("/").await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "the other one ended");
    WebSession::login(&stack.base, "104", "a much longer one").await;
    let mut old = WebSession::anonymous(&stack.base);
    let (status, _) = old.try_login("104", DEMO_PASSWORD).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    stack.stop().await;
}

async fn names_are_shown_as_text(mode: Mode) {
    let stack = Stack::start(mode).await;
    let bob = stack.user_id("102").await;
    stack
        .app
        .deps
        .store
        .run(move |c| {
            hark_core::store::users::update(
                c,
                &bob,
                &hark_core::store::users::UserUpdateForm {
                    display_name: "<script>alert(1)</script>Bob".into(),
                    email: None,
                    phone_uri: None,
                    timezone: "Europe/Paris".into(),
                },
            )
        })
        .await
        .unwrap();
    let alice = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let (_, page) = alice.get("/").await.unwrap();
    assert!(
        !page.contains("<script>alert(1)"),
        "markup in a name never reaches the page"
    );
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;Bob"));
    stack.stop().await;
}

/// Pop-ups: an open tab gets one for each new message and says when it was shown (the
/// sender's receipt says delivered, over the pop-up); one that opens later still gets those
/// waiting; one nobody sees in time is "not seen" and the next step (e-mail) goes at once
/// instead of waiting out its delay. Nobody else can say Bob saw his.
async fn popups_are_seen_or_escalate(mode: Mode) {
    let stack = Stack::start_with(mode, |c| c.router.popup_give_up_secs = 3).await;
    stack
        .set_profile(
            "102",
            r#"[{"channel":"popup"},{"channel":"email","after_secs":600}]"#,
        )
        .await;
    let alice = stack.login("101").await;
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let mut tab = bob.socket().await.unwrap();
    tab.expect("hello", |_| true).await;

    let id = stack
        .send(&alice, "102", audio::sine_wav(440.0, 1.2, 16_000))
        .await;
    let popup = tab
        .expect("popup", |f| f["message_id"] == id.as_str())
        .await;
    assert_eq!(popup["from_name"], "Alice Archer");
    assert_eq!(popup["from_extension"], "101");
    assert!((1100..=1300).contains(&popup["duration_ms"].as_i64().unwrap()));
    // Carol cannot say Bob saw it.
    let carol = WebSession::login(&stack.base, "103", DEMO_PASSWORD).await;
    let mut carol_tab = carol.socket().await.unwrap();
    carol_tab.expect("hello", |_| true).await;
    carol_tab
        .send(serde_json::json!({"type": "seen", "attempt_id": popup["attempt_id"]}))
        .await;
    tab.send(serde_json::json!({"type": "seen", "attempt_id": popup["attempt_id"]}))
        .await;
    let m = stack.wait_receipt(&alice, &id, "102", "delivered").await;
    let receipts = support::recipient(&m, "102")["receipts"].clone();
    assert!(
        receipts
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "delivered" && r["channel"] == "popup"),
        "{receipts}"
    );
    assert!(
        stack.attempts(&id).await.iter().any(|a| a.0 == "email"),
        "the e-mail step still waits its turn"
    );

    // Sent while Bob had no tab open, shown when he opens one.
    tab.close().await;
    let later = stack
        .send(&alice, "102", audio::sine_wav(440.0, 0.5, 16_000))
        .await;
    let mut tab = bob.socket().await.unwrap();
    let waiting = tab
        .expect("popup", |f| f["message_id"] == later.as_str())
        .await;
    tab.send(serde_json::json!({"type": "seen", "attempt_id": waiting["attempt_id"]}))
        .await;
    stack.wait_receipt(&alice, &later, "102", "delivered").await;
    tab.close().await;

    // Nobody sees this one: after 3 s it is "not seen" and the e-mail goes now, not in 10
    // minutes.
    let unseen = stack
        .send(&alice, "102", audio::sine_wav(440.0, 0.5, 16_000))
        .await;
    stack
        .wait_emails(|e| {
            e.iter()
                .any(|m| m.to == "bob@example.org" && m.subject.contains("Voice message"))
        })
        .await;
    let m = stack.message(&alice, &unseen).await;
    let r = support::recipient(&m, "102");
    assert_ne!(r["state"], "failed", "{r}");
    carol_tab.close().await;
    stack.stop().await;
}

/// A slow channel holds up only itself: with the mail relay taking a second per e-mail (and
/// one e-mail at a time), Carol's pop-ups for four messages all arrive while the e-mails are
/// still trickling out; then the e-mails all arrive too.
async fn a_slow_relay_does_not_delay_popups(mode: Mode) {
    let stack = Stack::start_with(mode, |c| c.notifier.email_concurrency = 1).await;
    stack
        .set_profile("103", r#"[{"channel":"popup"},{"channel":"email"}]"#)
        .await;
    stack.smtp.slow_down(1.0);
    let carol = WebSession::login(&stack.base, "103", DEMO_PASSWORD).await;
    let mut tab = carol.socket().await.unwrap();
    tab.expect("hello", |_| true).await;
    let alice = stack.login("101").await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(
            stack
                .send(&alice, "103", audio::sine_wav(440.0, 0.3, 16_000))
                .await,
        );
    }
    // Pushed concurrently, so in any order.
    let mut popped = std::collections::HashSet::new();
    while popped.len() < ids.len() {
        let f = tab.expect("popup", |_| true).await;
        popped.insert(f["message_id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| popped.contains(id)), "{popped:?}");
    let mailed = stack
        .emails()
        .iter()
        .filter(|m| m.to == "carol@example.org")
        .count();
    assert!(
        mailed < 4,
        "every pop-up came before the e-mails were done ({mailed})"
    );
    stack
        .wait_emails(|e| e.iter().filter(|m| m.to == "carol@example.org").count() == 4)
        .await;
    tab.close().await;
    stack.stop().await;
}

/// The edges a person can stumble on are pages of the portal: an unknown address, a bad
/// listen link (which links to sign-in), and the icon a tab shows.
async fn unknown_pages_and_bad_links_are_portal_pages(mode: Mode) {
    let stack = Stack::start(mode).await;
    let stranger = WebSession::anonymous(&stack.base);
    let (status, page) = stranger.get("/no/such/page").await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("<h1>Not found</h1>") && page.contains(r#"href="/""#),
        "{page}"
    );
    assert!(page.contains(r#"href="/static/favicon.svg""#), "{page}");
    let r = stranger
        .http
        .get(format!("{}/api/v1/no-such-thing", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = r.json().await.expect("an API 404 is JSON");
    assert!(body["error"].is_string(), "{body}");
    let r = stranger
        .http
        .get(format!("{}/static/favicon.svg", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    let (_, page) = stranger.get("/listen/not-a-real-link").await.unwrap();
    assert!(page.contains(r#"<a href="/login""#), "{page}");
    stack.stop().await;
}

/// Times are in the person's own zone and say which, on the dashboard, in the e-mail and on
/// the listen page it links to. (Berlin in December is CET, an hour ahead of UTC.)
async fn times_are_in_the_persons_zone_and_say_which(mode: Mode) {
    let stack = Stack::start(mode).await;
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let (saved, _) = bob
        .submit(
            "/profile",
            "details-form",
            &[("display_name", "Bob Baker"), ("timezone", "Europe/Berlin")],
        )
        .await
        .unwrap();
    assert!(saved.page.contains("Details saved."), "{}", saved.page);
    let alice = stack.login("101").await;
    stack
        .send(&alice, "102", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    let link = stack.listen_link("bob@example.org").await;
    let mail = stack
        .wait_emails(|e| e.iter().any(|m| m.to == "bob@example.org"))
        .await;
    let mail = mail.iter().find(|m| m.to == "bob@example.org").unwrap();
    let berlin = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Z")
        .to_string();
    assert!(mail.text.contains(&format!("({berlin})")), "{}", mail.text);
    let listen = stack
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listen.contains(&format!(" {berlin} · ")), "{listen}");
    let (_, page) = bob.get("/").await.unwrap();
    assert!(page.contains(&format!(" {berlin} · ")), "{page}");
    stack.stop().await;
}

both_modes!(
    times_are_in_the_persons_zone_and_say_which,
    unknown_pages_and_bad_links_are_portal_pages,
    a_slow_relay_does_not_delay_popups,
    popups_are_seen_or_escalate,
    signing_in_and_out,
    forms_need_the_csrf_token,
    wrong_passwords_lock_the_account,
    one_address_is_rate_limited,
    inbox_plays_and_the_sender_sees_heard,
    the_inbox_pages_newest_first,
    a_strangers_form_token_is_not_kept,
    presence_and_receipts_arrive_live,
    api_tokens_send_and_revoke,
    a_new_password_ends_other_sessions,
    names_are_shown_as_text,
);
