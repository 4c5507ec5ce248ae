//! Resource limits where input arrives, each set low, then met exactly and passed by one:
//! per-user API and sending budgets, upload size and length, the WebSocket's frame size and
//! rate, the length of a recording made on the phone, and the decoding child's memory and
//! time (a child that dies or hangs refuses one file; the portal goes on). (SIP limits: `sip_torture.rs`,
//! `sip_flood.rs` and `ivr::sip::guard`; plugin limits: `router/tests/plugins.rs`.)

mod support;

use hark_core::audio::encode_wav;
use reqwest::StatusCode;
use std::time::Duration;
use support::{
    Mode, Stack,
    sipp::{Scenario, Step, tone, write_pcma_pcap},
    web::WebSession,
};
use tokio_tungstenite::tungstenite::Message;

/// A WAV of exactly `samples` samples of a tone at 8 kHz.
fn wav_of(samples: usize) -> Vec<u8> {
    let pcm: Vec<f32> = (0..samples)
        .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 8_000.0).sin() * 0.5)
        .collect();
    encode_wav(&pcm, 8_000)
}

async fn sent_count(stack: &Stack, token: &str) -> usize {
    stack.sent(token).await["messages"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_sending_budgets_hold_at_the_limit_and_refuse_one_past_it() {
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.portal.sends_per_minute = 3;
        c.portal.api_per_minute = 6;
    })
    .await;
    let alice = stack.login("101").await;
    let bob = stack.login("102").await;
    for _ in 0..3 {
        stack.send(&alice, "102", wav_of(8_000)).await;
    }
    let r = stack.upload(&alice, "102", wav_of(8_000)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "60");
    // Four API requests so far (the refused upload counted); two more are allowed.
    assert_eq!(
        sent_count(&stack, &alice).await,
        3,
        "the refused one made nothing"
    );
    assert_eq!(sent_count(&stack, &alice).await, 3);
    let r = stack
        .http
        .get(format!("{}/api/v1/messages/sent", stack.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the seventh request"
    );
    // Bob's budget is his own.
    stack.send(&bob, "101", wav_of(8_000)).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_at_the_size_and_length_limits_pass_and_one_past_is_refused() {
    let at_size = wav_of(4_000);
    let limit = at_size.len();
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.portal.max_upload_bytes = limit;
        c.portal.max_message_seconds = 1;
    })
    .await;
    let alice = stack.login("101").await;
    // Size: exactly the limit is taken; one byte more is 413 before anything is decoded.
    stack.send(&alice, "102", at_size.clone()).await;
    let mut past = at_size;
    past.push(0);
    let r = stack.upload(&alice, "102", past).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    stack.stop().await;

    // Length: exactly one second is taken; one sample more is 422.
    let stack = Stack::start_with(Mode::Embedded, |c| c.portal.max_message_seconds = 1).await;
    let alice = stack.login("101").await;
    stack.send(&alice, "102", wav_of(8_000)).await;
    let r = stack.upload(&alice, "102", wav_of(8_001)).await;
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(sent_count(&stack, &alice).await, 1);
    stack.stop().await;
}

/// Run `hark decode-upload` on `input` with `memory_mib`; its exit status and stdout.
fn decode_upload(input: &[u8], memory_mib: u32) -> (std::process::ExitStatus, Vec<u8>) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
        .args([
            "decode-upload",
            "--max-seconds",
            "60",
            "--cpu-seconds",
            "10",
        ])
        .args(["--memory-mib", &memory_mib.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A child that dies early closes the pipe: not an error here.
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (out.status, out.stdout)
}

/// A script that stands in for a decoder that crashes (SIGABRT, as a failed allocation does)
/// or one that never answers.
fn fake_decoder(dir: &std::path::Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\ncat >/dev/null\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoding_children_are_limited_and_their_failures_refuse_one_file() {
    // The real child holds to its address-space limit from its start (the allocator reserves
    // its arena before `main`, so a limit set later would not bind it: the child starts
    // itself again, limited): 60 s of audio decodes within the default 512 MiB, and within
    // 16 MiB the child dies without an answer (killed by a signal: no core file is written).
    let minute = wav_of(8_000 * 60);
    let (status, out) = decode_upload(&minute, 512);
    assert!(status.success(), "{status}");
    assert!(out.starts_with(b"HARK-AUDIO-1\nR"));
    let (status, out) = decode_upload(&minute, 16);
    assert!(!status.success(), "{status}");
    assert!(out.is_empty(), "an answer from a child past its limit");

    // Whatever becomes of a child (killed by a signal, out of time), the upload is refused
    // with 422, nothing is stored, and the portal goes on.
    let dir = tempfile::tempdir().unwrap();
    for (name, body, seconds) in [
        ("aborts", "kill -ABRT $$", 30),
        ("hangs", "exec sleep 60", 1),
    ] {
        let program = fake_decoder(dir.path(), name, body);
        let stack = Stack::start_with(Mode::Embedded, |c| {
            c.portal.decoder_program = program;
            c.portal.decoder_seconds = seconds;
        })
        .await;
        let alice = stack.login("101").await;
        let r = stack.upload(&alice, "102", wav_of(8_000)).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert!(body.contains("could not read this file"), "{name}: {body}");
        assert_eq!(sent_count(&stack, &alice).await, 0, "{name}");
        let health = stack
            .http
            .get(format!("{}/healthz", stack.base))
            .send()
            .await;
        assert_eq!(health.unwrap().status(), StatusCode::OK, "{name}");
        stack.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_frames_at_the_size_and_rate_limits_pass_and_one_past_closes() {
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.portal.ws_max_frame_bytes = 1_024;
        c.portal.ws_frames_per_sec = 4;
    })
    .await;
    let bob = WebSession::login(&stack.base, "102", hark::demo::DEMO_PASSWORD).await;

    // A frame of exactly the limit is read (the socket answers a ping after it); one byte
    // more closes the socket with 1009 (message too big).
    let mut tab = bob.socket().await.unwrap();
    tab.send_frame(Message::Binary(vec![b'x'; 1_024].into()))
        .await
        .unwrap();
    tab.ping(b"after-1024").await.expect("still open");
    let mut tab = bob.socket().await.unwrap();
    tab.send_frame(Message::Binary(vec![b'x'; 1_025].into()))
        .await
        .unwrap();
    assert_eq!(tab.closed().await, Some(1009));

    // Four frames in a second are served; a fifth closes the socket with 1008 (policy).
    let mut tab = bob.socket().await.unwrap();
    for i in 0..4u8 {
        if let Err(code) = tab.ping(&[i]).await {
            panic!("frame {i} of 4 closed the socket: {code:?}");
        }
    }
    assert_eq!(tab.ping(b"fifth").await, Err(Some(1008)));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_recording_stops_at_its_limit() {
    let stack = Stack::start_with(Mode::Embedded, |c| c.ivr.max_record_secs = 4).await;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("tone.pcap");
    // Eight seconds of tone against a four-second limit.
    let sent_ms = write_pcma_pcap(&pcap, &tone(440.0, 8.0, 8000.0)).unwrap();
    let caller = Scenario {
        from_user: "101".into(),
        to_user: "hark".into(),
        steps: vec![
            Step::Pause(300),
            Step::Keys("1234#"),
            Step::Pause(300),
            Step::InfoKeys("2"),
            Step::Pause(500),
            Step::Keys("102#"),
            Step::Keys("#"),
            Step::Pause(5_000),
            Step::Audio {
                pcap: pcap.clone(),
                ms: sent_ms,
            },
            Step::Pause(500),
            Step::Keys("1"),
            Step::Pause(2_500),
        ],
    };
    caller
        .run(stack.ivr_addr(), dir.path(), Duration::from_secs(60))
        .await
        .expect("the caller's call succeeds");
    let (samples, sample_rate) = stack.recording_between("101", "102").await;
    let rate = sample_rate as usize;
    let ms = samples.len() as u64 * 1000 / rate as u64;
    // The limit is counted from the beep, so the leading pause (no RTP) is part of it: the
    // recording holds at most four seconds of the eight said, and ends mid-tone (cut, not
    // stopped by silence, which would have ended after the whole tone).
    assert!(
        (1_000..=4_000).contains(&ms),
        "a 4 s limit kept {ms} ms of the {sent_ms} ms said"
    );
    let tail = &samples[samples.len() - rate / 10..];
    assert!(
        support::audio::tone_level(tail, sample_rate, 440.0) > 0.01,
        "the recording ends in the middle of the tone"
    );
    stack.stop().await;
}
