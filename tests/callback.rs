//! Callback calls: a recipient whose profile says "call me" gets a phone call that plays the
//! message, answered by real SIP clients — baresip (a softphone, which records what it heard)
//! and sipp (a trunk that demands digest auth, a busy line, a phone nobody picks up). Checked
//! as users see it: what the callee heard, and the sender's receipt.

mod support;

use diesel::prelude::*;
use hark_core::{
    ids::MessageId,
    store::{attempts, schema::users},
};
use std::time::Duration;
use support::{Mode, Stack, audio, baresip::Baresip, eventually, sipp::Callee};

const CALL_LIMIT: Duration = Duration::from_secs(60);

/// Ring `extension` at `phone` for every message, by callback only.
async fn call_me_at(stack: &Stack, extension: &'static str, phone: String) {
    stack
        .app
        .deps
        .store
        .run(move |c| {
            let user =
                hark_core::store::users::find_by_extension(c, extension)?.expect("a demo user");
            diesel::update(users::table.find(&user.id))
                .set(users::phone_uri.eq(phone))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    stack
        .set_profile(extension, r#"[{"channel": "callback"}]"#)
        .await;
}

/// The callback attempt of message `id` once it has settled: (state, detail).
async fn settled_callback(stack: &Stack, id: &str) -> (String, Option<String>) {
    let store = stack.app.deps.store.clone();
    let id = MessageId::from(id);
    eventually("the callback attempt to settle", || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let attempts = store
                .run(move |c| attempts::list_attempts(c, &id))
                .await
                .unwrap();
            attempts
                .into_iter()
                .find(|a| {
                    a.channel == "callback" && a.state != "dispatched" && a.state != "pending"
                })
                .map(|a| (a.state, a.detail))
        }
    })
    .await
}

/// A silent microphone for a softphone that only listens.
fn silence_wav(seconds: f32) -> Vec<u8> {
    audio::sine_wav(0.0, seconds, 8000)
}

async fn softphone_hears_the_message(mode: Mode) {
    let stack = Stack::start(mode).await;
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, silence_wav(60.0)).unwrap();
    let mut phone = Baresip::start("bob", &mic, CALL_LIMIT).await.unwrap();
    call_me_at(&stack, "102", phone.uri()).await;

    let token = stack.login("101").await;
    let id = stack
        .send(&token, "102", audio::sine_wav(440.0, 2.0, 8000))
        .await;

    phone
        .event("CALL_ESTABLISHED", Duration::from_secs(30))
        .await
        .unwrap();
    // The sender learns it was heard while the call is still up.
    stack.wait_receipt(&token, &id, "102", "heard").await;
    phone.command("hangup", "").await.unwrap();
    phone
        .event("CALL_CLOSED", Duration::from_secs(10))
        .await
        .unwrap();
    let (state, detail) = settled_callback(&stack, &id).await;
    assert_eq!(
        (state.as_str(), detail.as_deref()),
        ("succeeded", Some("played"))
    );

    // What the phone heard: the spoken introduction, then the 2 s tone that was sent.
    let heard = eventually("baresip to save what it heard", || async {
        phone.heard().into_iter().next()
    })
    .await;
    let wav = std::fs::read(&heard).unwrap();
    let decoded = hark_core::audio::decode(&wav, 600).unwrap();
    let tone = audio::tone_ms(&decoded.samples, decoded.sample_rate, 440.0);
    assert!(
        tone.abs_diff(2000) <= 100,
        "the phone heard {tone} ms of the 2000 ms tone\n{}",
        phone.log()
    );
    let before_tone = decoded
        .samples
        .chunks(decoded.sample_rate as usize / 50)
        .position(|c| audio::tone_ms(c, decoded.sample_rate, 440.0) > 0)
        .unwrap_or(0);
    let intro: Vec<f32> =
        decoded.samples[..before_tone * decoded.sample_rate as usize / 50].to_vec();
    let spoken = intro
        .chunks(decoded.sample_rate as usize / 50)
        .filter(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() > 0.02)
        .count();
    assert!(
        spoken * 20 >= 1500,
        "an introduction is spoken before the message ({} ms of sound)",
        spoken * 20
    );
    phone.stop().await;
    stack.stop().await;
}

support::both_modes!(softphone_hears_the_message);

/// A phone number goes through the trunk, which challenges for digest credentials; the callee
/// presses 3 during the introduction and the sender learns it was declined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_with_digest_auth_and_a_declined_call() {
    let dir = tempfile::tempdir().unwrap();
    let trunk = Callee::Answer {
        auth: Some(("hark-trunk", "s3cret-pass")),
        after_ms: 600,
        keys: "3",
    }
    .listen(dir.path(), CALL_LIMIT)
    .await
    .unwrap();
    let trunk_addr = trunk.addr;
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.ivr.outbound_proxy = Some(format!("sip:{trunk_addr}"));
        c.ivr.trunk_username = "hark-trunk".into();
        c.ivr.trunk_password = hark_core::config::Secret::new("s3cret-pass");
    })
    .await;
    call_me_at(&stack, "102", "+1 555 0102".into()).await;
    let token = stack.login("101").await;
    let id = stack
        .send(&token, "102", audio::sine_wav(440.0, 2.0, 8000))
        .await;
    trunk
        .finish(CALL_LIMIT)
        .await
        .expect("the trunk saw a good call");
    stack.wait_receipt(&token, &id, "102", "declined").await;
    let (state, detail) = settled_callback(&stack, &id).await;
    assert_eq!(
        (state.as_str(), detail.as_deref()),
        ("failed", Some("declined on the phone"))
    );
    stack.stop().await;
}

/// The trunk's digest credentials go to the trunk alone: a callee reached directly by its
/// SIP URI that asks for credentials gets no second INVITE, and the attempt fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_credentials_are_never_offered_to_anyone_else() {
    let dir = tempfile::tempdir().unwrap();
    let stranger = Callee::Challenge
        .listen(dir.path(), CALL_LIMIT)
        .await
        .unwrap();
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.ivr.outbound_proxy = Some("sip:127.0.0.1:9".into());
        c.ivr.trunk_username = "hark-trunk".into();
        c.ivr.trunk_password = hark_core::config::Secret::new("s3cret-pass");
    })
    .await;
    call_me_at(&stack, "102", format!("sip:callee@{}", stranger.addr)).await;
    let token = stack.login("101").await;
    let id = stack
        .send(&token, "102", audio::sine_wav(440.0, 1.0, 8000))
        .await;
    stack.wait_receipt(&token, &id, "102", "failed").await;
    stranger
        .finish(CALL_LIMIT)
        .await
        .expect("no second INVITE (with the trunk's credentials) reached the stranger");
    let (state, _) = settled_callback(&stack, &id).await;
    assert_eq!(state, "failed");
    stack.stop().await;
}

/// A busy line and a phone that rings out each fail the attempt with the reason, and the
/// sender learns the message could not be delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_unanswered_phones() {
    let dir = tempfile::tempdir().unwrap();
    let busy = Callee::Busy.listen(dir.path(), CALL_LIMIT).await.unwrap();
    let ringing = Callee::Ring.listen(dir.path(), CALL_LIMIT).await.unwrap();
    let stack = Stack::start_with(Mode::Embedded, |c| c.ivr.ring_timeout_secs = 2).await;
    call_me_at(&stack, "102", format!("sip:callee@{}", busy.addr)).await;
    call_me_at(&stack, "103", format!("sip:callee@{}", ringing.addr)).await;
    let token = stack.login("101").await;
    let to_busy = stack
        .send(&token, "102", audio::sine_wav(440.0, 1.0, 8000))
        .await;
    let to_ringing = stack
        .send(&token, "103", audio::sine_wav(440.0, 1.0, 8000))
        .await;
    let m = stack.wait_receipt(&token, &to_busy, "102", "failed").await;
    // The sender is told why.
    assert_eq!(
        support::recipient(&m, "102")["reason"],
        "Call my phone: busy",
        "{m}"
    );
    let m = stack
        .wait_receipt(&token, &to_ringing, "103", "failed")
        .await;
    assert_eq!(
        support::recipient(&m, "103")["reason"],
        "Call my phone: no answer",
        "{m}"
    );
    assert_eq!(
        settled_callback(&stack, &to_busy).await,
        ("failed".into(), Some("busy".into()))
    );
    assert_eq!(
        settled_callback(&stack, &to_ringing).await,
        ("failed".into(), Some("no answer".into()))
    );
    busy.finish(CALL_LIMIT).await.expect("sipp said busy");
    ringing
        .finish(CALL_LIMIT)
        .await
        .expect("sipp rang and was cancelled");
    stack.stop().await;
}

/// "Call me to record" to a busy phone: the page that asked is told, in its open tab.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_me_to_a_busy_phone_tells_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let busy = Callee::Busy.listen(dir.path(), CALL_LIMIT).await.unwrap();
    let stack = Stack::start(Mode::Embedded).await;
    call_me_at(&stack, "102", format!("sip:callee@{}", busy.addr)).await;
    let bob = support::web::WebSession::login(&stack.base, "102", hark::demo::DEMO_PASSWORD).await;
    let mut tab = bob.socket().await.unwrap();
    tab.expect("hello", |_| true).await;
    let (done, _) = bob
        .submit("/compose", "call-me", &[("pick", "101")])
        .await
        .unwrap();
    assert!(done.page.contains("Hark is calling"), "{}", done.page);
    let frame = tab.expect("call_me", |_| true).await;
    assert_eq!(frame["outcome"], "busy", "{frame}");
    busy.finish(CALL_LIMIT).await.expect("sipp said busy");
    stack.stop().await;
}

/// A softphone nobody answers stops ringing when Hark gives up: its CANCEL matches the
/// ringing INVITE (RFC 3261 §9.1), and the sender learns "no answer".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_softphone_stops_ringing() {
    let stack = Stack::start_with(Mode::Embedded, |c| c.ivr.ring_timeout_secs = 2).await;
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, silence_wav(30.0)).unwrap();
    let mut phone = Baresip::start_with("carol", &mic, CALL_LIMIT, false)
        .await
        .unwrap();
    call_me_at(&stack, "103", phone.uri()).await;
    let token = stack.login("101").await;
    let id = stack
        .send(&token, "103", audio::sine_wav(440.0, 1.0, 8000))
        .await;
    phone
        .event("CALL_INCOMING", Duration::from_secs(30))
        .await
        .unwrap();
    // Well before any INVITE time-out of its own (32 s), the phone stops ringing.
    phone
        .event("CALL_CLOSED", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        settled_callback(&stack, &id).await,
        ("failed".into(), Some("no answer".into()))
    );
    stack.wait_receipt(&token, &id, "103", "failed").await;
    phone.stop().await;
    stack.stop().await;
}
