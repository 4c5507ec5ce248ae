//! Secrets never reach the logs: with every Hark module logging at `trace`, a password login,
//! an API token, a message sent with it, and the recipient's listen link opened (page and
//! audio) leave none of the password, the token or the link's signature in what was logged,
//! while the access log did record the requests (with the link's token replaced).

mod support;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};
use support::{Mode, Stack, audio::sine_wav};

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
    stack.stop().await;

    let logs = captured.text();
    let token = link.rsplit('/').next().unwrap();
    let signature = token.rsplit('.').next().unwrap();
    assert!(signature.len() >= 20, "{token}");
    assert!(
        logs.contains("GET /listen/[redacted]/audio"),
        "the access log was captured, with the token replaced"
    );
    for (what, secret) in [
        ("the demo password", hark::demo::DEMO_PASSWORD),
        ("the API token", alice.as_str()),
        ("the listen link's signature", signature),
    ] {
        assert!(!logs.contains(secret), "{what} was logged");
    }
}
