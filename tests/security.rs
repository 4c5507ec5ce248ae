//! Security claims of docs/SECURITY.md that no other test shows: the session cookie's
//! attributes and that a session fixed before login is not the one after it, the pages'
//! Content-Security-Policy, that one user cannot read another's message over the API nor a
//! non-admin manage plugins, and that a signed listen link falls once the recipient deletes
//! the message.

mod support;

use reqwest::{StatusCode, redirect::Policy};
use support::{Mode, Stack, audio::sine_wav, web::WebSession};

/// Log in through the form with a raw client; the `Set-Cookie` of the session.
async fn login_set_cookie(base: &str, planted: Option<&str>) -> (String, reqwest::Client) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let url: reqwest::Url = base.parse().unwrap();
    if let Some(value) = planted {
        jar.add_cookie_str(&format!("hark_session={value}; Path=/"), &url);
    }
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .build()
        .unwrap();
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let form = form.text().await.unwrap();
    let csrf = support::web::csrf_in(&form).unwrap();
    let r = http
        .post(format!("{base}/login"))
        .form(&[
            ("extension", "102"),
            ("password", hark::demo::DEMO_PASSWORD),
            ("csrf", &csrf),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("hark_session="))
        .expect("a session cookie")
        .to_owned();
    (set, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_fresh_http_only_and_same_site() {
    let stack = Stack::start_with(Mode::Embedded, |c| c.portal.secure_cookies = true).await;
    let planted = "attacker-chosen-session-value";
    let (set, _) = login_set_cookie(&stack.base, Some(planted)).await;
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
    let emails = stack
        .wait_emails(|e| e.iter().any(|m| m.to == "bob@example.org"))
        .await;
    let link = emails
        .iter()
        .find(|e| e.to == "bob@example.org")
        .unwrap()
        .link();
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
