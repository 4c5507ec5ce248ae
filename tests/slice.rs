//! The first slice, end to end, on real parts: a JSON upload becomes `message.recorded`, the
//! router plans e-mail, the notifier sends it through a real SMTP server, the e-mailed link
//! plays the audio, and that play comes back to the sender as a "heard" receipt.
//!
//! Every scenario runs twice: embedded (SQLite + in-process bus) and distributed
//! (PostgreSQL + RabbitMQ), each run on its own database and queues.

mod support;

use hark_core::{
    bus::{BusMessage, Exchange},
    events::{Command, Envelope, Event, Notify, Origin},
    ids::{AttemptId, MessageId},
    link::ListenClaim,
};
use serde_json::Value;
use support::{
    Mode, Stack,
    audio::{dominant, sine_wav},
    recipient,
};

const TONES: [f32; 5] = [350.0, 440.0, 523.0, 660.0, 880.0];

fn count_to(emails: &[support::Email], to: &str) -> usize {
    emails.iter().filter(|e| e.to == to).count()
}

async fn first_message_end_to_end(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = stack.login("101").await;
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 2.0, 22_050))
        .await;

    // Bob gets an e-mail from Alice, and Alice a "delivered" receipt.
    let emails = stack
        .wait_emails(|e| count_to(e, "bob@example.org") == 1)
        .await;
    let email = emails.iter().find(|e| e.to == "bob@example.org").unwrap();
    assert!(email.subject.contains("Alice Archer"), "{}", email.subject);
    // Who, how long and when, in Bob's timezone, and the link.
    let today = chrono::Utc::now().format("%-d %b %Y").to_string();
    for part in [
        "Alice Archer (101)",
        "voice message (",
        " s)",
        &today,
        "(UTC)",
        "/listen/",
    ] {
        assert!(email.text.contains(part), "{part:?} in {}", email.text);
    }
    let m = stack.wait_receipt(&alice, &id, "102", "delivered").await;
    assert_eq!(recipient(&m, "102")["state"], "delivered");

    // The link opens a player page; opening it is not hearing it.
    let link = email.link();
    assert!(link.starts_with(&stack.base), "{link}");
    let page = stack.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("Voice message from Alice Archer"), "{html}");
    assert!(html.contains("/audio\""), "{html}");
    let m = stack.message(&alice, &id).await;
    assert!(
        !recipient(&m, "102")["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "heard"),
        "{m}"
    );

    // Playing it returns the very audio that was sent: two seconds of 440 Hz.
    let audio = stack
        .http
        .get(format!("{link}/audio"))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    assert_eq!(audio.headers()["content-type"], "audio/wav");
    let bytes = audio.bytes().await.unwrap();
    let decoded = hark_core::audio::decode(&bytes, 120).unwrap();
    assert_eq!(decoded.sample_rate, 16_000);
    let secs = decoded.samples.len() as f32 / 16_000.0;
    assert!((secs - 2.0).abs() < 0.05, "{secs} s");
    assert_eq!(dominant(&decoded.samples, 16_000, &TONES), 440.0);

    // …and Alice learns that Bob heard it.
    let m = stack.wait_receipt(&alice, &id, "102", "heard").await;
    assert_eq!(recipient(&m, "102")["state"], "played");

    // Playing again, or seeking, tells her nothing new. A later message is the marker: the
    // router handles events in order, so once its receipt exists the replays were handled.
    let again = stack
        .http
        .get(format!("{link}/audio"))
        .header("range", "bytes=0-")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 206);
    let tail = stack
        .http
        .get(format!("{link}/audio"))
        .header("range", "bytes=-100")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().len(), 100);
    let beyond = stack
        .http
        .get(format!("{link}/audio"))
        .header("range", "bytes=999999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    let marker = stack
        .send(&alice, "103", sine_wav(523.0, 1.0, 16_000))
        .await;
    stack
        .wait_receipt(&alice, &marker, "103", "delivered")
        .await;
    let m = stack.message(&alice, &id).await;
    let kinds: Vec<&Value> = recipient(&m, "102")["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["kind"])
        .collect();
    assert_eq!(kinds, ["delivered", "heard"], "{m}");
    assert_eq!(count_to(&stack.emails(), "bob@example.org"), 1);
    stack.stop().await;
}

async fn bad_input_is_refused_and_loses_nothing(mode: Mode) {
    let stack = Stack::start_with(mode, |c| c.portal.max_upload_bytes = 256 * 1024).await;
    let alice = stack.login("101").await;
    let error = |v: &Value| v["error"].as_str().unwrap_or_default().to_owned();

    // Unknown recipients, alone or among known ones: nothing is half-sent.
    for to in ["999", "102,999"] {
        let r = stack.upload(&alice, to, sine_wav(440.0, 1.0, 16_000)).await;
        assert_eq!(r.status(), 422, "to={to}");
        let v: Value = r.json().await.unwrap();
        assert!(error(&v).contains("999"), "{v}");
    }
    // Not audio at all.
    let r = stack
        .upload(&alice, "102", b"this is plainly not audio\n".repeat(100))
        .await;
    assert_eq!(r.status(), 415);
    let v: Value = r.json().await.unwrap();
    assert!(error(&v).contains("not audio"), "{v}");
    // A WAV cut in half.
    let wav = sine_wav(440.0, 3.0, 16_000);
    let r = stack
        .upload(&alice, "102", wav[..wav.len() / 2].to_vec())
        .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert!(error(&v).contains("truncated"), "{v}");
    // Larger than the configured limit (10 s at 16 kHz is 320 kB).
    let r = stack
        .upload(&alice, "102", sine_wav(440.0, 10.0, 16_000))
        .await;
    assert_eq!(r.status(), 413);
    // No credentials, bad credentials, a made-up token.
    let r = stack
        .http
        .post(format!("{}/api/v1/messages?to=102", stack.base))
        .body(sine_wav(440.0, 1.0, 16_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for (extension, password) in [("101", "wrong"), ("555", hark::demo::DEMO_PASSWORD)] {
        let r = stack
            .http
            .post(format!("{}/api/v1/login", stack.base))
            .json(&serde_json::json!({"extension": extension, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{extension}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(error(&v), "wrong extension or password");
    }
    let r = stack
        .upload("made-up-token", "102", sine_wav(440.0, 1.0, 16_000))
        .await;
    assert_eq!(r.status(), 401);

    // None of that stored or sent anything.
    let sent = stack.sent(&alice).await;
    assert_eq!(sent["messages"], serde_json::json!([]));

    // A good message still goes through, once.
    let id = stack
        .send(&alice, "102", sine_wav(660.0, 1.0, 16_000))
        .await;
    let emails = stack
        .wait_emails(|e| count_to(e, "bob@example.org") == 1)
        .await;
    stack.wait_receipt(&alice, &id, "102", "delivered").await;
    let link = emails[0].link();

    // A tampered link and an expired one get 403 and no audio.
    let (prefix, token) = link.rsplit_once('/').unwrap();
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() / 3;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered = format!("{prefix}/{}", chars.into_iter().collect::<String>());
    let bob = stack.user_id("102").await;
    let expired = format!(
        "{}/listen/{}",
        stack.base,
        stack.app.signer.sign(&ListenClaim {
            message_id: MessageId::from(id.as_str()),
            recipient_id: bob,
            expires_at: chrono::Utc::now().timestamp() - 60,
        })
    );
    for (bad, why) in [(&tampered, "not valid"), (&expired, "expired")] {
        for url in [bad.clone(), format!("{bad}/audio")] {
            let r = stack.http.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 403, "{url}");
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let body = r.text().await.unwrap();
            assert!(!body.starts_with("RIFF"));
            assert!(body.contains(why), "{body}");
        }
    }
    // And no "heard" came of them.
    let m = stack.message(&alice, &id).await;
    assert_eq!(recipient(&m, "102")["state"], "delivered", "{m}");
    stack.stop().await;
}

async fn duplicate_events_do_nothing_twice(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = stack.login("101").await;
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 1.0, 16_000))
        .await;
    stack
        .wait_emails(|e| count_to(e, "bob@example.org") == 1)
        .await;
    let (alice_id, bob) = (stack.user_id("101").await, stack.user_id("102").await);
    let message_id = MessageId::from(id.as_str());
    let attempt: AttemptId = stack
        .attempt_rows(&id)
        .await
        .first()
        .map(|a| AttemptId::from(a.id.as_str()))
        .expect("an attempt");

    // One router event and one notifier command, each delivered twice with the same id.
    let recorded = Envelope::new(Event::MessageRecorded {
        message_id: message_id.clone(),
        sender_id: alice_id,
        recipients: vec![bob.clone()],
        origin: Origin::Api,
        duration_ms: 1000,
        urgent: false,
    });
    let command = Envelope::new(Command::Notify(Notify {
        channel: hark_core::channel::Channel::Email,
        attempt_id: attempt,
        message_id,
        recipient_id: bob,
        endpoint: None,
        tries: 0,
    }));
    for _ in 0..2 {
        let body = serde_json::to_vec(&recorded).unwrap();
        stack
            .app
            .deps
            .bus
            .publish(
                Exchange::Events,
                BusMessage {
                    id: recorded.id.to_string(),
                    routing_key: recorded.body.routing_key(),
                    body,
                },
            )
            .await
            .unwrap();
        let body = serde_json::to_vec(&command).unwrap();
        stack
            .app
            .deps
            .bus
            .publish(
                Exchange::Commands,
                BusMessage {
                    id: command.id.to_string(),
                    routing_key: command.body.routing_key().into(),
                    body,
                },
            )
            .await
            .unwrap();
    }
    // A later message is the marker: once Carol's e-mail is out and every command before it
    // has left the queue and the outbox, every copy above has been handled.
    stack
        .send(&alice, "103", sine_wav(523.0, 1.0, 16_000))
        .await;
    stack
        .wait_emails(|e| count_to(e, "carol@example.org") == 1)
        .await;
    let emails = support::eventually("every copy handled", || async {
        let waiting = stack
            .app
            .deps
            .bus
            .queue_depth("notify.email")
            .await
            .unwrap_or(1);
        let emails = stack.emails();
        (waiting == 0 && count_to(&emails, "bob@example.org") >= 3).then_some(emails)
    })
    .await;
    // Bob: the original, plus one for the replayed event and one for the replayed command;
    // the second copy of each did nothing.
    assert_eq!(count_to(&emails, "bob@example.org"), 3, "{emails:#?}");
    stack.stop().await;
}

async fn groups_reach_every_member_but_the_sender(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice = stack.login("101").await;
    let r = stack
        .upload(&alice, "200", sine_wav(440.0, 1.0, 16_000))
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let exts: Vec<&str> = v["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["extension"].as_str().unwrap())
        .collect();
    assert_eq!(exts, ["102", "103", "104"]);
    let emails = stack.wait_emails(|e| e.len() == 3).await;
    let mut to: Vec<&str> = emails.iter().map(|e| e.to.as_str()).collect();
    to.sort();
    assert_eq!(
        to,
        ["bob@example.org", "carol@example.org", "dan@example.org"]
    );
    stack.stop().await;
}

/// The mail relay is down when a message comes: the notifier retries with back-off (a retry
/// waits in the outbox) instead of failing it; when the relay is back the e-mail arrives,
/// once, and the sender's receipt says delivered.
async fn a_relay_down_then_up_sends_once(mode: Mode) {
    let mut stack = Stack::start(mode).await;
    stack.smtp.stop().await;
    let alice = stack.login("101").await;
    let id = stack
        .send(&alice, "102", sine_wav(440.0, 0.5, 16_000))
        .await;
    support::eventually("a retry waiting in the outbox", || async {
        let rows = stack
            .app
            .deps
            .store
            .run(|c| hark_core::store::outbox::list_pending(c, 100))
            .await
            .unwrap();
        rows.iter()
            .any(|r| {
                r.routing_key == "notify.email"
                    && r.next_attempt_at > r.created_at + chrono::Duration::milliseconds(1500)
            })
            .then_some(())
    })
    .await;
    let m = stack.message(&alice, &id).await;
    assert_ne!(
        support::recipient(&m, "102")["state"],
        "failed",
        "not failed while retrying"
    );
    stack.smtp.restart().await.unwrap();
    stack.wait_receipt(&alice, &id, "102", "delivered").await;
    let emails = stack.emails();
    assert_eq!(count_to(&emails, "bob@example.org"), 1, "{emails:?}");
    stack.stop().await;
}

/// A relay that requires STARTTLS (its certificate self-signed, trusted through
/// `notifier.smtp_ca_file`) and a login: with the right password the e-mail goes through TLS;
/// with a wrong one the relay's refusal (535) fails the attempt and the sender is told.
async fn a_relay_with_starttls_and_a_login(mode: Mode) {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let relay = support::SmtpSink::start_secure(&cert, &key, "hark:s3cret")
        .await
        .unwrap();
    for (password, works) in [("s3cret", true), ("wrong", false)] {
        let url = format!(
            "smtp://hark:{password}@127.0.0.1:{}?tls=required",
            relay.port
        );
        let ca = cert.display().to_string();
        let stack = Stack::start_with(mode.clone(), move |c| {
            c.notifier.smtp_url = hark_core::config::Secret::new(url);
            c.notifier.smtp_ca_file = ca;
        })
        .await;
        let alice = stack.login("101").await;
        let id = stack
            .send(&alice, "102", sine_wav(440.0, 0.5, 16_000))
            .await;
        if works {
            let mails =
                support::wait_emails(relay.dir.path(), |e| count_to(e, "bob@example.org") == 1)
                    .await;
            assert!(mails[0].subject.contains("Alice Archer"));
            stack.wait_receipt(&alice, &id, "102", "delivered").await;
        } else {
            let m = stack.wait_receipt(&alice, &id, "102", "failed").await;
            assert_eq!(recipient(&m, "102")["state"], "failed");
            assert_eq!(
                count_to(&support::read_emails(relay.dir.path()), "bob@example.org"),
                1
            );
        }
        stack.stop().await;
    }
}

support::both_modes!(
    a_relay_with_starttls_and_a_login,
    a_relay_down_then_up_sends_once,
    first_message_end_to_end,
    bad_input_is_refused_and_loses_nothing,
    duplicate_events_do_nothing_twice,
    groups_reach_every_member_but_the_sender,
);
