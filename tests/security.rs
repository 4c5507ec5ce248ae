//! Security claims of docs/SECURITY.md that no other test shows: the session cookie's
//! attributes, and that a session fixed before login is not the one after it; forwarding
//! headers believed from a trusted proxy and from no one else; the pages'
//! Content-Security-Policy; that one user cannot read another's message over the API nor a
//! non-admin manage plugins; that a signed listen link falls once the recipient deletes the
//! message, the sender withdraws it or the recipient's account is disabled; that every login
//! costs one password check whether or not the extension exists; and that open tabs close
//! when their session ends.

mod support;

use hark_core::{events::Origin, ids::MessageId, link::ListenClaim, store::messages};
use reqwest::{StatusCode, redirect::Policy};
use support::{Mode, Stack, audio::sine_wav, web::WebSession};

/// Log in as 102 through the form with a raw client from `from` (a loopback address),
/// sending `headers`; the status and the session's `Set-Cookie`, if one was set.
async fn form_login(
    base: &str,
    from: &str,
    planted: Option<&str>,
    headers: &[(&str, &str)],
    password: &str,
) -> (StatusCode, Option<String>) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let url: reqwest::Url = base.parse().unwrap();
    if let Some(value) = planted {
        jar.add_cookie_str(&format!("hark_session={value}; Path=/"), &url);
    }
    let mut default_headers = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        default_headers.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .default_headers(default_headers)
        .build()
        .unwrap();
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let form = form.text().await.unwrap();
    let csrf = support::web::csrf_in(&form).unwrap();
    let r = http
        .post(format!("{base}/login"))
        .form(&[
            ("extension", "102"),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("hark_session="))
        .map(str::to_owned);
    (r.status(), set)
}

/// Log in with the right password; the session's `Set-Cookie`.
async fn login_set_cookie(base: &str, planted: Option<&str>) -> String {
    let (status, set) =
        form_login(base, "127.0.0.1", planted, &[], hark::demo::DEMO_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    set.expect("a session cookie")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_believed_from_trusted_proxies_only() {
    // The "proxy" connects from 127.0.0.2; anyone else is a client talking directly.
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.portal.trusted_proxies = vec!["127.0.0.2".into()];
        c.portal.login_per_minute = 2;
        c.portal.login_attempts = 100;
    })
    .await;
    let base = stack.base.clone();
    let via_proxy =
        |client: &'static str| [("x-forwarded-for", client), ("x-forwarded-proto", "https")];
    // Behind the proxy each client has its own login budget...
    for _ in 0..2 {
        let (status, _) = form_login(
            &base,
            "127.0.0.2",
            None,
            &via_proxy("198.51.100.7"),
            "wrong",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = form_login(
        &base,
        "127.0.0.2",
        None,
        &via_proxy("198.51.100.7"),
        "wrong",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the third from one client"
    );
    // ...and another client behind the same proxy is not held back; HTTPS at the proxy
    // makes the session cookie Secure.
    let (status, set) = form_login(
        &base,
        "127.0.0.2",
        None,
        &via_proxy("198.51.100.8"),
        hark::demo::DEMO_PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(set.unwrap().contains("Secure"));

    // A client that is not the proxy cannot pose as many addresses or as HTTPS.
    for n in 0..2 {
        let forged = [(
            "x-forwarded-for",
            if n == 0 { "203.0.113.1" } else { "203.0.113.2" },
        )];
        let (status, _) = form_login(&base, "127.0.0.3", None, &forged, "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = form_login(
        &base,
        "127.0.0.3",
        None,
        &[("x-forwarded-for", "203.0.113.3")],
        hark::demo::DEMO_PASSWORD,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "its own address is what counts"
    );
    let (status, set) = form_login(
        &base,
        "127.0.0.4",
        None,
        &[("x-forwarded-proto", "https")],
        hark::demo::DEMO_PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        !set.unwrap().contains("Secure"),
        "only a trusted proxy says HTTPS"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_fresh_http_only_and_same_site() {
    let stack = Stack::start_with(Mode::Embedded, |c| c.portal.secure_cookies = true).await;
    let planted = "attacker-chosen-session-value";
    let set = login_set_cookie(&stack.base, Some(planted)).await;
    let value = set
        .strip_prefix("hark_session=")
        .and_then(|v| v.split(';').next())
        .unwrap();
    assert_ne!(
        value, planted,
        "the session is made at login, never taken over"
    );
    assert!(value.len() >= 40, "{value}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    // The planted value signs nobody in.
    let anonymous = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let r = anonymous
        .get(format!("{}/account", stack.base))
        .header("cookie", format!("hark_session={planted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // And the real one does.
    let r = anonymous
        .get(format!("{}/account", stack.base))
        .header("cookie", format!("hark_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_reach_only_their_own_and_links_fall_with_the_message() {
    let stack = Stack::start(Mode::Embedded).await;
    let alice = stack.login("101").await;
    let carol = stack.login("103").await;
    let id = stack.send(&alice, "102", sine_wav(440.0, 1.0, 8_000)).await;

    // Carol cannot read Alice's message over the API (not even that it exists).
    let r = stack
        .http
        .get(format!("{}/api/v1/messages/{id}", stack.base))
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = stack
        .http
        .get(format!("{}/api/v1/messages/{id}", stack.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Bob (not an admin) cannot add, change or remove plugins.
    let bob = WebSession::login(&stack.base, "102", hark::demo::DEMO_PASSWORD).await;
    for path in ["/admin/plugins", "/admin/plugins/template"] {
        let (status, _) = bob.post(path, &[("action", "disable")]).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }

    // Bob's link plays until he deletes the message; then it is refused.
    let link = stack.listen_link("bob@example.org").await;
    let r = stack
        .http
        .get(format!("{link}/audio"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, _) = bob
        .post(&format!("/messages/{id}/delete"), &[])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    for url in [link.clone(), format!("{link}/audio")] {
        let r = stack.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{url}");
        assert!(!r.bytes().await.unwrap().starts_with(b"RIFF"));
    }
    stack.stop().await;
}

/// A guesser learns nothing from the time a login takes: an unknown extension, a disabled
/// account and a wrong password each cost one argon2id check, as the right password does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_costs_one_password_check_known_or_not() {
    let stack = Stack::start(Mode::Embedded).await;
    let admin = WebSession::login(&stack.base, "101", hark::demo::DEMO_PASSWORD).await;
    let (status, _) = admin
        .post("/admin/users/104/disabled", &[("disabled", "1")])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);

    let checks = "hark_portal_password_checks_total";
    let mut expected = stack.counter(checks);
    assert!(expected >= 1, "the admin's own login was counted");
    for (extension, password, want) in [
        ("999", hark::demo::DEMO_PASSWORD, StatusCode::UNAUTHORIZED),
        ("10", "", StatusCode::UNAUTHORIZED),
        ("102", "not-the-password", StatusCode::UNAUTHORIZED),
        ("104", hark::demo::DEMO_PASSWORD, StatusCode::UNAUTHORIZED),
        ("102", hark::demo::DEMO_PASSWORD, StatusCode::OK),
    ] {
        let r = stack
            .http
            .post(format!("{}/api/v1/login", stack.base))
            .json(&serde_json::json!({ "extension": extension, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{extension}");
        expected += 1;
        assert_eq!(
            stack.counter(checks),
            expected,
            "extension {extension:?} ran one check"
        );
    }
    stack.stop().await;
}

/// A signed link is proof of who it was made for, not leave to use it for ever: it falls
/// when the sender withdraws the message and while the recipient's account is disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_fall_when_withdrawn_and_while_the_recipient_is_disabled() {
    let stack = Stack::start(Mode::Embedded).await;
    let (alice, bob) = (stack.user_id("101").await, stack.user_id("102").await);
    let link_to = |id: &MessageId| {
        format!(
            "{}/listen/{}",
            stack.base,
            stack.app.signer.sign(&ListenClaim {
                message_id: id.clone(),
                recipient_id: bob.clone(),
                expires_at: chrono::Utc::now().timestamp() + 3_600,
            })
        )
    };
    let status = |url: String| {
        let http = stack.http.clone();
        async move { http.get(&url).send().await.unwrap().status() }
    };

    // A message Alice is still recording, as the IVR makes it at the beep; she withdraws it.
    let recording = MessageId::new();
    let (id, from, to) = (recording.clone(), alice.clone(), bob.clone());
    stack
        .app
        .deps
        .store
        .run(move |c| messages::create_recording(c, &id, &from, Origin::Phone, false, &[to]))
        .await
        .unwrap();
    let link = link_to(&recording);
    assert_eq!(status(link.clone()).await, StatusCode::OK, "the link opens");
    let id = recording.clone();
    stack
        .app
        .deps
        .store
        .run(move |c| messages::cancel(c, &id))
        .await
        .unwrap();
    for url in [link.clone(), format!("{link}/audio")] {
        assert_eq!(status(url.clone()).await, StatusCode::NOT_FOUND, "{url}");
    }

    // A message Bob received: its link stops while his account is disabled.
    let token = stack.login("101").await;
    stack.send(&token, "102", sine_wav(440.0, 1.0, 8_000)).await;
    let link = stack.listen_link("bob@example.org").await;
    assert_eq!(status(format!("{link}/audio")).await, StatusCode::OK);
    let admin = WebSession::login(&stack.base, "101", hark::demo::DEMO_PASSWORD).await;
    for (disabled, want) in [("1", StatusCode::NOT_FOUND), ("0", StatusCode::OK)] {
        let (s, _) = admin
            .post("/admin/users/102/disabled", &[("disabled", disabled)])
            .await
            .unwrap();
        assert_eq!(s, StatusCode::SEE_OTHER);
        for url in [link.clone(), format!("{link}/audio")] {
            assert_eq!(
                status(url.clone()).await,
                want,
                "disabled={disabled}: {url}"
            );
        }
    }
    stack.stop().await;
}

/// A tab's socket lives no longer than the session that opened it: signing out closes that
/// session's tabs (close code 4401, and the page goes to the login form) but not the tabs of
/// the person's other sessions, and disabling an account closes all of its tabs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_tabs_close_when_their_session_ends() {
    let stack = Stack::start(Mode::Embedded).await;
    let password = hark::demo::DEMO_PASSWORD;
    let (alice_here, alice_there) = (
        WebSession::login(&stack.base, "101", password).await,
        WebSession::login(&stack.base, "101", password).await,
    );
    let bob = WebSession::login(&stack.base, "102", password).await;
    let mut here_tab = alice_here.socket().await.unwrap();
    let mut there_tab = alice_there.socket().await.unwrap();
    let mut bob_tab = bob.socket().await.unwrap();

    let (status, _) = alice_here.post("/logout", &[]).await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(here_tab.closed().await, Some(4401), "the signed-out tab");
    assert_eq!(
        there_tab.ping(b"still").await,
        Ok(()),
        "the other session's tab"
    );
    assert_eq!(bob_tab.ping(b"still").await, Ok(()), "someone else's tab");
    // Its cookie no longer opens one.
    assert!(alice_here.socket().await.is_err());

    // Alice (an admin, in her other session) disables Bob: his tab closes.
    let (status, _) = alice_there
        .post("/admin/users/102/disabled", &[("disabled", "1")])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        bob_tab.closed().await,
        Some(4401),
        "a disabled person's tab"
    );
    assert_eq!(there_tab.ping(b"still").await, Ok(()));
    there_tab.close().await;
    stack.stop().await;
}
