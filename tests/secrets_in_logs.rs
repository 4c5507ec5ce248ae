//! Secrets never reach the logs: with every Hark module logging at `trace`, a password login,
//! an API token, a message sent with it, the recipient's listen link opened (page and audio),
//! and a phone login with a wrong PIN and then the right one (RFC 4733 key presses from sipp)
//! leave none of the password, the token, the link's signature or the PINs in what was
//! logged, while the access log did record the requests (with the link's token replaced) and
//! the IVR did log each key press (without its digit).

mod support;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};
use support::{
    Mode, Stack,
    audio::sine_wav,
    sipp::{Scenario, Step},
};

/// Alice's PIN in this test, and a wrong guess at it.
const PIN: &str = "80613927";
const WRONG_PIN: &str = "80613920";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_tokens_and_links_are_not_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Installed before the stack's own (which then leaves this one in place).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,hyper=info,h2=info,lapin=info,diesel=info,mio=info,tokio=info,runtime=info,\
             cranelift_codegen=info,wasmtime=info,actix_server=info,actix_http=info",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let stack = Stack::start(Mode::Embedded).await;
    let alice = stack.login("101").await;
    let id = stack.send(&alice, "102", sine_wav(440.0, 1.0, 8_000)).await;
    let link = stack.listen_link("bob@example.org").await;
    for url in [link.clone(), format!("{link}/audio")] {
        let r = stack.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let _ = r.bytes().await.unwrap();
    }
    stack.wait_receipt(&alice, &id, "102", "heard").await;

    // Alice calls in and logs in by phone: a wrong PIN, then hers.
    let hash = hark_core::password::hash(PIN).unwrap();
    let alice_id = stack.user_id("101").await;
    stack
        .app
        .deps
        .store
        .run(move |c| hark_core::store::users::set_pin_hash(c, &alice_id, Some(&hash)))
        .await
        .unwrap();
    let checks = || stack.counter("hark_ivr_pin_checks_total");
    let before = checks();
    let dir = tempfile::tempdir().unwrap();
    Scenario {
        from_user: "101".into(),
        to_user: "hark".into(),
        steps: vec![
            Step::Pause(300),
            Step::Keys("80613920#"),
            Step::Pause(1_500),
            Step::Keys("80613927#"),
            Step::Pause(1_500),
        ],
    }
    .run(
        stack.ivr_addr(),
        dir.path(),
        std::time::Duration::from_secs(60),
    )
    .await
    .expect("the call");
    // Both PINs were checked, and the right one cleared the wrong one's count.
    support::eventually("both PINs checked, the second right", || async {
        let user = stack.user("101").await;
        (checks() == before + 2 && user.pin_failures == 0).then_some(())
    })
    .await;
    stack.stop().await;

    let logs = captured.text();
    let token = link.rsplit('/').next().unwrap();
    let signature = token.rsplit('.').next().unwrap();
    assert!(signature.len() >= 20, "{token}");
    assert!(
        logs.contains("GET /listen/[redacted]/audio"),
        "the access log was captured, with the token replaced"
    );
    let key_presses = logs.lines().filter(|l| l.contains(" key method=")).count();
    assert!(
        key_presses >= 18,
        "the IVR logged {key_presses} key presses, not the 18 pressed"
    );
    assert_eq!(logs.matches("wrong PIN").count(), 1, "one PIN was wrong");
    for (what, secret) in [
        ("the wrong PIN", WRONG_PIN),
        ("the PIN", PIN),
        ("the demo password", hark::demo::DEMO_PASSWORD),
        ("the API token", alice.as_str()),
        ("the listen link's signature", signature),
    ] {
        assert!(!logs.contains(secret), "{what} was logged");
    }
}
