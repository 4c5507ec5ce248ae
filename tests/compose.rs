//! Composing in the portal over HTTP (the form a browser posts): an audio file in any format
//! the portal takes, picked contacts and typed numbers, attachments that reach the recipients
//! and nobody else, bad uploads refused with nothing stored, and "call me to record" placing a
//! real call to a softphone.

mod support;

use hark::demo::DEMO_PASSWORD;
use reqwest::{
    StatusCode,
    multipart::{Form, Part},
};
use std::{path::Path, time::Duration};
use support::{Mode, Stack, audio, baresip::Baresip, both_modes, web::WebSession};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture (tests/fixtures/make.sh)")
}

/// Post the compose form as a browser without scripts would.
async fn compose(s: &WebSession, form: Form) -> (StatusCode, String) {
    let r = s
        .http
        .post(format!("{}/compose", s.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

fn audio_part(bytes: Vec<u8>, name: &str) -> Part {
    Part::bytes(bytes).file_name(name.to_owned())
}

async fn files_reach_recipients_only(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let (status, page) = alice.get("/compose?to=102").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"value="102" checked"#),
        "the reply target is picked"
    );

    let notes = b"minutes of the meeting\n".repeat(50);
    let form = Form::new()
        .text("csrf", alice.csrf.clone())
        .text("pick", "102")
        .text("to", "103")
        .part(
            "audio",
            audio_part(audio::sine_wav(440.0, 1.5, 16_000), "hello.wav"),
        )
        .part(
            "attachment",
            Part::bytes(notes.clone()).file_name("..\\up\\<i>notes.txt"),
        );
    let (status, body) = compose(&alice, form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    for ext in ["102", "103"] {
        let s = WebSession::login(&stack.base, ext, DEMO_PASSWORD).await;
        let (_, page) = s.get("/").await.unwrap();
        let at = page
            .find("/attachments/")
            .unwrap_or_else(|| panic!("{ext} sees the file"));
        let start = page[..at].rfind("href=\"").unwrap() + 6;
        let end = start + page[start..].find('"').unwrap();
        let url = page[start..end].to_owned();
        assert!(
            page.contains("&#60;i&#62;notes.txt"),
            "the name, as text: {page}"
        );
        let r = s
            .http
            .get(format!("{}{url}", stack.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let cd = r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cd.starts_with("attachment;"), "{cd}");
        assert!(!cd.contains(".."), "no path in the offered name: {cd}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), notes.as_slice());
        // The recording is what Alice sent.
        let id_at = page.find("/messages/").unwrap() + 10;
        let id = &page[id_at..id_at + page[id_at..].find('/').unwrap()];
        let (_, wav) = s.get_bytes(&format!("/messages/{id}/audio")).await.unwrap();
        let (rate, samples) = audio::wav_so_far(&wav).unwrap();
        let got = audio::tone_ms(&samples, rate, 440.0);
        assert!(
            (1400..=1600).contains(&got),
            "{ext} hears the 1.5 s tone ({got} ms)"
        );
        if ext == "103" {
            // Dan received nothing: the same addresses are "not found" for him.
            let dan = WebSession::login(&stack.base, "104", DEMO_PASSWORD).await;
            let (status, _) = dan.get_bytes(&url).await.unwrap();
            assert_eq!(status, StatusCode::NOT_FOUND);
            let (status, _) = dan
                .get_bytes(&format!("/messages/{id}/audio"))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
    }
    stack.stop().await;
}

async fn every_upload_format_decodes(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    for name in ["tone440.mp3", "tone440.flac", "tone440.ogg", "tone440.m4a"] {
        let form = Form::new()
            .text("csrf", alice.csrf.clone())
            .text("to", "102")
            .part("audio", audio_part(fixture(name), name));
        let r = alice
            .http
            .post(format!("{}/compose", stack.base))
            .header("x-requested-with", "fetch")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{name}");
        let v: serde_json::Value = r.json().await.unwrap();
        let id = v["id"].as_str().unwrap();
        let (_, wav) = bob
            .get_bytes(&format!("/messages/{id}/audio"))
            .await
            .unwrap();
        let (rate, samples) = audio::wav_so_far(&wav).unwrap();
        assert_eq!(rate, 16_000, "stored in the canonical format");
        let got = audio::tone_ms(&samples, rate, 440.0);
        assert!((1400..=1600).contains(&got), "{name}: {got} ms of the tone");
    }
    stack.stop().await;
}

async fn bad_uploads_store_nothing(mode: Mode) {
    let stack = Stack::start_with(mode, |c| {
        c.portal.max_upload_bytes = 256 * 1024;
        c.portal.max_attachment_bytes = 64 * 1024;
    })
    .await;
    let alice = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let wav = audio::sine_wav(440.0, 3.0, 16_000);
    let cases: Vec<(&str, Form, StatusCode, &str)> = vec![
        (
            "not audio",
            Form::new().text("to", "102").part(
                "audio",
                audio_part(b"plain text, not audio\n".repeat(50), "a.wav"),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not audio",
        ),
        (
            "truncated",
            Form::new().text("to", "102").part(
                "audio",
                audio_part(wav[..wav.len() / 2].to_vec(), "cut.wav"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "truncated",
        ),
        (
            "garbage",
            Form::new().text("to", "102").part(
                "audio",
                audio_part(
                    (0..50_000u32).map(|i| (i * 7919 % 251) as u8).collect(),
                    "noise.mp3",
                ),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "",
        ),
        (
            "oversize",
            Form::new().text("to", "102").part(
                "audio",
                audio_part(audio::sine_wav(440.0, 10.0, 16_000), "long.wav"),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
        (
            "oversize attachment",
            Form::new()
                .text("to", "102")
                .part(
                    "audio",
                    audio_part(audio::sine_wav(440.0, 1.0, 16_000), "ok.wav"),
                )
                .part(
                    "attachment",
                    Part::bytes(vec![7u8; 100 * 1024]).file_name("big.bin"),
                ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
        (
            "no audio",
            Form::new().text("to", "102"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "record a message",
        ),
        (
            "unknown recipient",
            Form::new().text("to", "999").part(
                "audio",
                audio_part(audio::sine_wav(440.0, 1.0, 16_000), "ok.wav"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "999",
        ),
    ];
    for (what, form, want, says) in cases {
        let (status, body) = compose(&alice, form.text("csrf", alice.csrf.clone())).await;
        assert_eq!(status, want, "{what}: {body}");
        assert!(body.contains(says), "{what}: {body}");
    }
    // Without the CSRF token, even a good message is refused.
    let form = Form::new().text("to", "102").part(
        "audio",
        audio_part(audio::sine_wav(440.0, 1.0, 16_000), "ok.wav"),
    );
    let (status, _) = compose(&alice, form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let token = stack.login("101").await;
    assert_eq!(
        stack.sent(&token).await["messages"],
        serde_json::json!([]),
        "nothing stored"
    );
    let blobs = stack.app.config.data_dir.join("blobs");
    let stored = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(stored, 0, "no blob left behind in {}", blobs.display());
    stack.stop().await;
}

/// "Call me to record" from the portal: Hark rings the softphone on Alice's profile, she talks
/// after the beep and hangs up, and the message reaches the group she ticked, named so on her
/// sent list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_me_to_record_from_the_portal() {
    let stack = Stack::start(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(440.0, 60.0, 8000)).unwrap();
    let mut phone = Baresip::start("alice", &mic, Duration::from_secs(60))
        .await
        .unwrap();
    let alice_id = stack.user_id("101").await;
    let uri = phone.uri();
    stack
        .app
        .deps
        .store
        .run(move |c| {
            let u = hark_core::store::users::find_by_id(c, &alice_id)?.unwrap();
            hark_core::store::users::update(
                c,
                &alice_id,
                &hark_core::store::users::UserUpdateForm {
                    display_name: u.display_name,
                    email: u.email,
                    phone_uri: Some(uri),
                    timezone: u.timezone,
                },
            )
        })
        .await
        .unwrap();
    let alice = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let (called, action) = alice
        .submit("/compose", "call-me", &[("pick", "200")])
        .await
        .unwrap();
    assert_eq!(called.status, StatusCode::SEE_OTHER, "{}", called.page);
    assert!(called.page.contains("Hark is calling"), "{}", called.page);

    phone
        .event("CALL_ESTABLISHED", Duration::from_secs(30))
        .await
        .unwrap();
    phone
        .wait_heard(1000.0, 200, Duration::from_secs(30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await; // Alice talks for two seconds.
    phone.command("hangup", "").await.unwrap();
    let (samples, rate) = stack.recording_between("101", "102").await;
    let tone = audio::tone_ms(&samples, rate, 440.0);
    assert!(
        (1500..=3500).contains(&tone),
        "the message holds {tone} ms of what Alice said"
    );
    phone.stop().await;
    let (_, page) = alice.get("/").await.unwrap();
    assert!(page.contains("To Team (200)"), "{page}");

    // The same form sent again (a reload, a double click) places no second call.
    let again = alice.resubmit(&action, &[("pick", "200")]).await.unwrap();
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(again.page.contains("already sent"), "{}", again.page);
    assert!(!again.page.contains("Hark is calling"), "{}", again.page);

    // Without a phone on the profile, the page says what to do.
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let (status, page) = bob.post("/compose/call", &[("pick", "101")]).await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Add your phone"), "{page}");
    stack.stop().await;
}

/// The compose form sent twice (a double click, Back and Submit) sends one message, and the
/// dashboard says whom it went to, once.
async fn a_message_form_sent_twice_sends_once(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let (_, page) = alice.get("/compose").await.unwrap();
    let action = support::web::form_action(&page, "compose").expect("the compose form");
    assert!(action.contains("?once="), "{action}");
    let (status, first) = post_to(&alice, &action).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{first}");
    assert!(first.contains("Sent to Bob Baker."), "{first}");
    let (status, second) = post_to(&alice, &action).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{second}");
    assert!(second.contains("already sent"), "{second}");
    assert!(!second.contains("Sent to Bob Baker."), "{second}");
    // The notice is shown once.
    let (_, later) = alice.get("/").await.unwrap();
    assert!(!later.contains("already sent") && !later.contains("Sent to"));
    let token = stack.login("101").await;
    let sent = stack.sent(&token).await;
    assert_eq!(
        sent["messages"].as_array().map(Vec::len),
        Some(1),
        "one message: {sent}"
    );
    // A form that was refused may be sent again once corrected.
    let (_, page) = alice.get("/compose").await.unwrap();
    let action = support::web::form_action(&page, "compose").unwrap();
    let refused = alice
        .http
        .post(format!("{}{action}", alice.base))
        .multipart(
            Form::new()
                .text("csrf", alice.csrf.clone())
                .text("pick", "102"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (status, page) = post_to(&alice, &action).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let sent = stack.sent(&token).await;
    assert_eq!(sent["messages"].as_array().map(Vec::len), Some(2));
    stack.stop().await;
}

/// Post a one-second message to Bob on the compose form at `action`: the status, and the page
/// a browser shows after it.
async fn post_to(s: &WebSession, action: &str) -> (StatusCode, String) {
    let form = Form::new()
        .text("csrf", s.csrf.clone())
        .text("pick", "102")
        .part(
            "audio",
            audio_part(audio::sine_wav(440.0, 1.0, 16_000), "hello.wav"),
        );
    let r = s
        .http
        .post(format!("{}{action}", s.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    if status != StatusCode::SEE_OTHER {
        return (status, r.text().await.unwrap());
    }
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    (status, s.get(&to).await.unwrap().1)
}

both_modes!(
    a_message_form_sent_twice_sends_once,
    files_reach_recipients_only,
    every_upload_format_decodes,
    bad_uploads_store_nothing,
);
