//! The IVR with linphonec, a second real softphone (REAL-CLIENTS.md). linphonec puts a
//! non-loopback address in its SDP unless it runs in a network namespace of its own, so the
//! test runs `hark serve --demo` and linphonec together in a private namespace (`unshare -n`)
//! whose loopback is theirs alone, and reads the outcome from Hark's data folder.
//!
//! An unknown caller (linphonec's own identity) keys in their extension and PIN, chooses 2,
//! sends to 102, and talks after the beep; the message stored is what linphonec sent, and
//! linphonec heard spoken prompts before the beep. And linphonec registers as a phone with its
//! SIP password, after a wrong one is refused.

mod support;

use hark::app::App;
use hark_core::config::Config;
use std::{path::Path, time::Duration};
use support::{audio, eventually};
use tokio::process::{Child, Command};

const HARK: &str = env!("CARGO_BIN_EXE_hark");
const WAIT: Duration = Duration::from_secs(30);

/// linphonecsh reaches its daemon through one socket per user in /tmp, whatever the network
/// namespace: the tests take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A private network namespace, alive as long as its holder process.
struct Namespace {
    holder: Child,
}

impl Namespace {
    async fn new() -> Self {
        let holder = Command::new("unshare")
            .args(["-n", "sleep", "300"])
            .kill_on_drop(true)
            .spawn()
            .expect("unshare runs");
        let ns = Self { holder };
        // The holder must have entered its namespace before lo can be brought up in it.
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        eventually("the holder to enter its namespace", || async {
            std::fs::read_link(format!("/proc/{}/ns/net", ns.pid()))
                .ok()
                .filter(|theirs| *theirs != ours)
        })
        .await;
        eventually("the namespace's loopback to come up", || async {
            ns.run("ip", &["link", "set", "lo", "up"])
                .status()
                .await
                .ok()
                .filter(|s| s.success())
        })
        .await;
        ns
    }

    fn pid(&self) -> String {
        self.holder.id().expect("holder running").to_string()
    }

    fn run(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid(), "-n", program])
            .args(args)
            .kill_on_drop(true);
        c
    }
}

/// Stops the linphonec daemon this test started (found by its log path, which is in the
/// test's own folder), however the test ends.
struct Daemon(std::path::PathBuf);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-9", "-f", &self.0.to_string_lossy()])
            .status();
    }
}

/// `hark serve --demo` in the namespace (SIP on 5070, the portal on 8090, data and log under
/// `dir`, `env` on top), once it takes calls; its log file.
async fn serve_demo(
    ns: &Namespace,
    dir: &Path,
    env: &[(&str, &str)],
) -> (Child, std::path::PathBuf) {
    let log_path = dir.join("hark.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let hark = ns
        .run(HARK, &["serve", "--demo"])
        .env("HARK_DATA_DIR", dir.join("data"))
        .env("HARK_IVR__SIP_LISTEN", "127.0.0.1:5070")
        .env("HARK_PORTAL__LISTEN", "127.0.0.1:8090")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("hark starts");
    eventually("Hark to take calls", || async {
        std::fs::read_to_string(&log_path)
            .ok()
            .filter(|l| l.contains("IVR taking calls"))
    })
    .await;
    (hark, log_path)
}

/// `linphonecsh ARGS` in the namespace, with its files under `home`.
async fn linphonecsh(ns: &Namespace, home: &Path, args: &[&str]) -> String {
    let out = ns
        .run("linphonecsh", args)
        .env("HOME", home)
        .output()
        .await
        .expect("linphonecsh runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_logs_in_records_and_sends() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ns = Namespace::new().await;

    let (mut hark, log_path) = serve_demo(
        &ns,
        dir.path(),
        &[
            ("HARK_IVR__DIGIT_TIMEOUT_SECS", "3"),
            ("HARK_IVR__SILENCE_SECS", "3"),
        ],
    )
    .await;

    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(440.0, 60.0, 8000)).unwrap();
    let heard = dir.path().join("heard.wav");
    let rc = dir.path().join("linphonerc");
    std::fs::write(&rc, "[sound]\n").unwrap();
    let home = dir.path();
    let lin_log = dir.path().join("linphone.log");
    let _daemon = Daemon(lin_log.clone());
    linphonecsh(
        &ns,
        home,
        &[
            "init",
            "-c",
            rc.to_str().unwrap(),
            "-d",
            "5",
            "-l",
            lin_log.to_str().unwrap(),
        ],
    )
    .await;
    eventually("linphonec to take commands", || async {
        let out = linphonecsh(&ns, home, &["generic", "ports sip 5080"]).await;
        out.contains("5080").then_some(())
    })
    .await;
    linphonecsh(&ns, home, &["generic", "soundcard use files"]).await;
    linphonecsh(&ns, home, &["generic", &format!("play {}", mic.display())]).await;
    linphonecsh(
        &ns,
        home,
        &["generic", &format!("record {}", heard.display())],
    )
    .await;
    let dialled = linphonecsh(&ns, home, &["dial", "sip:hark@127.0.0.1:5070"]).await;
    let mut calls = String::new();
    for _ in 0..100 {
        calls = linphonecsh(&ns, home, &["generic", "calls"]).await;
        if calls.contains("StreamsRunning") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        calls.contains("StreamsRunning"),
        "the call never came up: {dialled}\n{calls}\n{}",
        String::from_utf8_lossy(&std::fs::read(&lin_log).unwrap_or_default())
            .lines()
            .filter(|l| l.contains("belle-sip-error")
                || l.contains("moving from state")
                || l.contains("channel"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Not known by caller id: extension, PIN, 2 (send), 102, done; typed ahead.
    for key in "101#1234#2102##".chars() {
        linphonecsh(&ns, home, &["generic", &key.to_string()]).await;
        tokio::time::sleep(Duration::from_millis(250)).await; // a person's key presses
    }
    // linphonec writes what it heard only when the call ends, so the beep is seen in Hark's
    // store instead: at the beep the message exists, still `recording`.
    let app = App::build(Config {
        data_dir: data.clone(),
        ..Config::default()
    })
    .await
    .unwrap();
    let store = app.deps.store.clone();
    message_from_101(&store, "the beep (a message being recorded)", |m| {
        m.state == "recording"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // the caller talks for two seconds
    linphonecsh(&ns, home, &["generic", "#"]).await;
    // `#` ends the recording; the review menu is up once it is stored, held for review.
    message_from_101(&store, "the recording held for review", |m| {
        m.state == "recording" && m.blob_key.is_some()
    })
    .await;
    linphonecsh(&ns, home, &["generic", "1"]).await;
    eventually("Hark to send the message", || async {
        std::fs::read_to_string(&log_path)
            .ok()
            .filter(|l| l.contains("message sent from the phone"))
    })
    .await;
    linphonecsh(&ns, home, &["generic", "terminate"]).await;
    linphonecsh(&ns, home, &["exit"]).await;

    // Spoken prompts before the beep, in what linphonec heard.
    let heard = eventually("linphonec to save what it heard", || async {
        let bytes = std::fs::read(&heard).ok()?;
        let (rate, samples) = audio::wav_so_far(&bytes)?;
        (audio::tone_ms(&samples, rate, 1000.0) >= 200).then_some((rate, samples))
    })
    .await;
    let (rate, samples) = heard;
    let frame = rate as usize / 50;
    let beep_at = samples
        .chunks(frame)
        .position(|c| c.len() == frame && audio::tone_ms(c, rate, 1000.0) > 0)
        .expect("the beep was heard");
    let spoken = samples[..beep_at * frame]
        .chunks(frame)
        .filter(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() > 0.02)
        .count();
    assert!(spoken * 20 >= 2000, "{} ms of prompts heard", spoken * 20);

    // Stop Hark, then read what it stored.
    let _ = ns
        .run("kill", &["-TERM", &hark.id().unwrap().to_string()])
        .status()
        .await;
    let _ = tokio::time::timeout(WAIT, hark.wait()).await;
    let (sender, recipient) = {
        let s = app.deps.store.clone();
        s.run(|c| {
            let a = hark_core::store::users::find_by_extension(c, "101")?.unwrap();
            let b = hark_core::store::users::find_by_extension(c, "102")?.unwrap();
            Ok((a.user_id(), b.user_id()))
        })
        .await
        .unwrap()
    };
    let message = app
        .deps
        .store
        .run(move |c| {
            let sent = hark_core::store::messages::list_sent(c, &sender, 5)?;
            let m = sent.into_iter().find(|m| m.state == "complete").unwrap();
            assert!(
                hark_core::store::messages::find_recipient(c, &m.message_id(), &recipient)?
                    .is_some()
            );
            Ok(m)
        })
        .await
        .unwrap();
    let decoded = support::decoded_recording(&app.deps, &message).await;
    assert_eq!(
        audio::dominant(
            &decoded.samples,
            decoded.sample_rate,
            &[300.0, 440.0, 1000.0]
        ),
        440.0
    );
    let tone = audio::tone_ms(&decoded.samples, decoded.sample_rate, 440.0);
    assert!(
        (1500..=3500).contains(&tone),
        "{tone} ms of the caller's tone\n{}",
        String::from_utf8_lossy(&std::fs::read(&log_path).unwrap_or_default())
    );
}

/// linphonec registers as Bob's demo phone (102, the demo password) once a wrong password has
/// been refused, and Hark knows where it is. (linphonec registers at all only with
/// `register_only_when_network_is_up=0`: in a namespace with nothing but loopback it thinks
/// the network is down. It cannot take a call back: Debian's 5.1.65 answers every incoming
/// INVITE 503 because its core never reaches the "on" state, so ringing every phone is tested
/// with baresip in tests/registrar.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_registers_and_a_wrong_password_is_refused() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ns = Namespace::new().await;
    let (mut hark, log_path) = serve_demo(&ns, dir.path(), &[]).await;
    let hark_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let rc = dir.path().join("linphonerc");
    std::fs::write(
        &rc,
        "[sound]\n[sip]\nauto_net_state_mon=0\nregister_only_when_network_is_up=0\n",
    )
    .unwrap();
    let home = dir.path();
    let lin_log = dir.path().join("linphone.log");
    let _daemon = Daemon(lin_log.clone());
    let (rc, lin) = (rc.to_str().unwrap(), lin_log.to_str().unwrap());
    linphonecsh(&ns, home, &["init", "-c", rc, "-d", "5", "-l", lin]).await;
    eventually("linphonec to take commands", || async {
        let out = linphonecsh(&ns, home, &["generic", "ports sip 5080"]).await;
        out.contains("5080").then_some(())
    })
    .await;
    let register = |password: &'static str| {
        let ns = &ns;
        async move {
            linphonecsh(
                ns,
                home,
                &[
                    "register",
                    "--host",
                    "127.0.0.1:5070",
                    "--username",
                    "102",
                    "--password",
                    password,
                ],
            )
            .await
        }
    };

    register("a-wrong-guess").await;
    eventually("the wrong password refused", || async {
        hark_log()
            .lines()
            .any(|l| l.contains("refused: wrong credentials") && l.contains("127.0.0.1:5080"))
            .then_some(())
    })
    .await;
    let status = linphonecsh(&ns, home, &["status", "register"]).await;
    assert!(!status.contains("registered,"), "{status}");
    assert!(
        !hark_log().contains("a-wrong-guess"),
        "no password in the log"
    );

    linphonecsh(&ns, home, &["generic", "proxy remove 0"]).await;
    register(hark::demo::DEMO_PASSWORD).await;
    let status = eventually("linphonec registered", || async {
        let s = linphonecsh(&ns, home, &["status", "register"]).await;
        s.contains("registered, identity=sip:102@").then_some(s)
    })
    .await;
    assert!(status.contains("102"), "{status}");

    // Hark has the binding, from where linphonec sent it.
    let app = App::build(Config {
        data_dir: data.clone(),
        ..Config::default()
    })
    .await
    .unwrap();
    let bound = eventually("the binding stored", || {
        let store = app.deps.store.clone();
        async move {
            store
                .run(|c| {
                    let bob = hark_core::store::users::find_by_extension(c, "102")?.unwrap();
                    hark_core::store::registrations::of_user(
                        c,
                        &bob.user_id(),
                        hark_core::store::now(),
                    )
                })
                .await
                .ok()
                .filter(|b| !b.is_empty())
        }
    })
    .await;
    assert_eq!(bound[0].source, "udp:127.0.0.1:5080", "{bound:?}");
    assert!(
        bound[0]
            .user_agent
            .as_deref()
            .is_some_and(|u| u.contains("Linphone")),
        "{bound:?}"
    );

    linphonecsh(&ns, home, &["exit"]).await;
    let _ = ns
        .run("kill", &["-TERM", &hark.id().unwrap().to_string()])
        .status()
        .await;
    let _ = tokio::time::timeout(WAIT, hark.wait()).await;
}

/// Wait for a message from 101 in the state `is` accepts.
async fn message_from_101(
    store: &hark_core::store::Store,
    what: &str,
    is: fn(&hark_core::store::messages::Message) -> bool,
) {
    eventually(what, || {
        let store = store.clone();
        async move {
            store
                .run(move |c| {
                    let a = hark_core::store::users::find_by_extension(c, "101")?.unwrap();
                    Ok(hark_core::store::messages::list_sent(c, &a.user_id(), 5)?
                        .iter()
                        .any(is)
                        .then_some(()))
                })
                .await
                .unwrap()
        }
    })
    .await;
}
