//! The `hark` binary as an operator uses it: `serve --demo`, `user list`, `user add`,
//! `device add|list|remove` (a softphone registering with the sign-in it was given), `migrate`,
//! configuration from a file plus `HARK_…` overrides, and a clean stop on SIGTERM.

mod support;

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt},
    process::{Child, Command},
};

const WAIT: Duration = Duration::from_secs(60);
const HARK: &str = env!("CARGO_BIN_EXE_hark");

/// A `hark` child whose stderr is collected as it runs.
struct Running {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Running {
    fn start(args: &[&str], config: &std::path::Path) -> Self {
        let mut child = Command::new(HARK)
            .args(["--config", config.to_str().unwrap()])
            .args(args)
            .env("HARK_PORTAL__LISTEN", "127.0.0.1:0")
            .env("HARK_IVR__SIP_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("hark starts");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Self { child, log }
    }

    /// Wait (bounded) for a log line containing `needle`; returns that line.
    async fn wait_for(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(line) = self
                .log
                .lock()
                .unwrap()
                .lines()
                .find(|l| l.contains(needle))
            {
                return line.to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {needle:?} in:\n{}",
                self.log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn hark(
    args: &[&str],
    config: &std::path::Path,
    stdin: Option<&str>,
) -> std::process::Output {
    let mut child = Command::new(HARK)
        .args(["--config", config.to_str().unwrap()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("hark runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("hark finishes")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_then_manage_users_then_stop() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hark.toml");
    // The file sets the data folder and a listen address the environment overrides.
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[portal]\nlisten = \"127.0.0.1:1\"\n",
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();

    let mut serve = Running::start(&["serve", "--demo"], &config);
    let line = serve.wait_for("portal listening on http://").await;
    let ivr_line = serve.wait_for("IVR taking calls at sip:127.0.0.1:").await;
    let ivr: std::net::SocketAddr = ivr_line[ivr_line.find("sip:").unwrap() + 4..]
        .trim()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap();
    let base = line[line.find("http://").unwrap()..].trim().to_owned();
    assert!(
        !base.ends_with(":1"),
        "HARK_PORTAL__LISTEN must override the file: {base}"
    );
    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // The demo users are there for an operator to see.
    let out = hark(&["user", "list"], &config, None).await;
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    for (ext, name, _) in hark::demo::DEMO_USERS {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(ext) && l.contains(name)),
            "{ext} {name} missing from:\n{listing}"
        );
    }

    // An added user can sign in to the running server.
    let out = hark(
        &[
            "user",
            "add",
            "--extension",
            "105",
            "--name",
            "Eve Evans",
            "--password-stdin",
        ],
        &config,
        Some("a long enough password\n"),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login = http
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({"extension": "105", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    // A taken extension is refused with a clear message.
    let out = hark(
        &["user", "add", "--extension", "105", "--name", "Eve Again"],
        &config,
        None,
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("taken"));
    // Eve's softphone gets a SIP sign-in from the command line and registers with it.
    let out = hark(
        &[
            "device",
            "add",
            "--extension",
            "105",
            "--kind",
            "sip",
            "--address",
            "sip:105@hark",
            "--sip-username",
            "eve-phone",
        ],
        &config,
        Some("eves-phone-secret\n"),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, support::audio::sine_wav(440.0, 30.0, 8000)).unwrap();
    let phone = support::baresip::Baresip::registered(
        "eve-phone",
        "eves-phone-secret",
        ivr,
        &mic,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    phone.wait_log("200 OK () [1 binding]", WAIT).await.unwrap();
    let out = hark(&["device", "list", "--extension", "105"], &config, None).await;
    let listing = String::from_utf8(out.stdout).unwrap();
    let row = listing
        .lines()
        .find(|l| l.contains("sip:105@hark"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(
        row.contains("eve-phone") && row.contains(&format!("udp:{}", phone.sip)),
        "{listing}"
    );
    let id = row.split_whitespace().next().unwrap().to_owned();
    phone.stop().await;
    // Each demo person's softphone signs in with their extension and the demo password.
    let alice = support::baresip::Baresip::registered(
        "101",
        hark::demo::DEMO_PASSWORD,
        ivr,
        &mic,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    alice.wait_log("200 OK () [1 binding]", WAIT).await.unwrap();
    alice.stop().await;
    assert!(
        hark(&["device", "remove", &id], &config, None)
            .await
            .status
            .success()
    );
    let out = hark(&["device", "remove", &id], &config, None).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("no device"));

    // Migrating an up-to-date database is a no-op.
    assert!(hark(&["migrate"], &config, None).await.status.success());

    // SIGTERM: finish and exit 0.
    let pid = serve.child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT, serve.child.wait())
        .await
        .expect("hark stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    serve.wait_for("shutting down").await;
}

#[tokio::test]
async fn single_services_refuse_the_in_process_bus() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hark.toml");
    std::fs::write(&config, "").unwrap();
    for service in ["router", "notifier", "portal", "ivr"] {
        let out = hark(&[service], &config, None).await;
        assert!(!out.status.success(), "{service}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("amqp://"), "{service}: {err}");
    }
}

#[tokio::test]
async fn plugins_are_validated_installed_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hark.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n",
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let out = hark(
        &[
            "plugin",
            "add",
            hark_test_plugins::URGENT_ESCALATION,
            "--priority",
            "5",
            "--plugin-config",
            r#"{"times": 2}"#,
        ],
        &config,
        None,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("installed urgent-escalation"));

    // Refused: a forbidden import, and a config the plugin rejects. Nothing changes.
    let out = hark(
        &["plugin", "add", hark_test_plugins::SOCKETS],
        &config,
        None,
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wasi:sockets"));
    let out = hark(
        &[
            "plugin",
            "add",
            hark_test_plugins::URGENT_ESCALATION,
            "--plugin-config",
            r#"{"times": 99}"#,
        ],
        &config,
        None,
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("times must be 1 to 10"));

    let out = hark(&["plugin", "disable", "urgent-escalation"], &config, None).await;
    assert!(out.status.success());
    let out = hark(&["plugin", "list"], &config, None).await;
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = listing
        .lines()
        .find(|l| l.starts_with("urgent-escalation"))
        .unwrap_or_else(|| panic!("{listing}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        &cols[..4],
        ["urgent-escalation", "1.0.0", "5", "no"],
        "{line}"
    );
    assert_eq!(listing.lines().count(), 2, "{listing}");
    let out = hark(&["plugin", "enable", "nonesuch"], &config, None).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_short_link_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hark.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[links]\nsecret = \"too-short\"\n[portal]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let out = hark(&["serve"], &config, None).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 32 characters"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
