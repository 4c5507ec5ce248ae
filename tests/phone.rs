//! The phone side with a real SIP client (sipp): log in with RFC 4733 digits, choose with SIP
//! INFO, record and send to two people, and the recipient calls in and listens — checked by
//! what users see: the stored recording is the tone the caller sent, recipients get it, and
//! the sender's receipt says "heard".

mod support;

use hark_core::store::messages;
use std::time::Duration;
use support::{
    Mode, Stack, audio, eventually,
    sipp::{Scenario, Step, tone, write_pcma_pcap},
};

const CALL_LIMIT: Duration = Duration::from_secs(60);

async fn record_send_and_listen(mode: Mode) {
    let stack = Stack::start(mode).await;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("tone.pcap");
    let sent_ms = write_pcma_pcap(&pcap, &tone(440.0, 2.0, 8000.0)).unwrap();

    // 101 calls (known by caller id), PIN by RFC 4733, "2" (send) by SIP INFO, two
    // recipients, then speaks after the beep and presses # and 1 (send).
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
            Step::Keys("103#"),
            Step::Keys("#"),
            Step::Pause(5_000),
            Step::Audio {
                pcap: pcap.clone(),
                ms: sent_ms,
            },
            Step::Keys("#"),
            Step::Pause(1_000),
            Step::Keys("1"),
            Step::Pause(2_500),
        ],
    };
    caller
        .run(stack.ivr_addr(), dir.path(), CALL_LIMIT)
        .await
        .expect("the caller's call succeeds");

    let sender = stack.user_id("101").await;
    let store = stack.app.deps.store.clone();
    let message = eventually("the phone message is complete", || {
        let (store, sender) = (store.clone(), sender.clone());
        async move {
            let sent = store
                .run(move |c| messages::list_sent(c, &sender, 5))
                .await
                .unwrap();
            sent.into_iter().find(|m| m.state == "complete")
        }
    })
    .await;
    let id = message.message_id();
    let recipients = store
        .run({
            let id = id.clone();
            move |c| messages::list_recipients(c, &id)
        })
        .await
        .unwrap();
    let mut to: Vec<String> = Vec::new();
    for r in &recipients {
        let u = store
            .run({
                let rid = hark_core::ids::UserId::from(r.recipient_id.as_str());
                move |c| hark_core::store::users::find_by_id(c, &rid)
            })
            .await
            .unwrap()
            .unwrap();
        to.push(u.extension);
    }
    to.sort();
    assert_eq!(to, ["102", "103"], "sent to the two people keyed in");

    // The recording is the tone that was sent: its loud part lasts as long, at 440 Hz.
    let wav = stack
        .app
        .deps
        .blobs
        .get(message.blob_key.as_deref().unwrap())
        .await
        .unwrap();
    let decoded = hark_core::audio::decode(&wav, 600).unwrap();
    let rate = decoded.sample_rate;
    let loud: Vec<f32> = decoded
        .samples
        .chunks(rate as usize / 50)
        .filter(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() > 0.05)
        .flatten()
        .copied()
        .collect();
    let loud_ms = loud.len() as u64 * 1000 / u64::from(rate);
    assert!(
        loud_ms.abs_diff(u64::from(sent_ms)) <= 100,
        "the recording holds {loud_ms} ms of tone; {sent_ms} ms were sent"
    );
    assert_eq!(
        audio::dominant(&loud, rate, &[300.0, 440.0, 600.0, 1000.0]),
        440.0
    );

    // The router delivered it (e-mail by default) to both.
    eventually("both recipients are e-mailed", || async {
        (stack.emails().len() >= 2).then_some(())
    })
    .await;

    // 102 calls in and listens: PIN, 3 (listen), hears it, then 3 (next).
    let listener = Scenario {
        from_user: "102".into(),
        to_user: "hark".into(),
        steps: vec![
            Step::Pause(300),
            Step::Keys("1234#"),
            Step::Pause(300),
            Step::Keys("3"),
            Step::Pause(6_000),
            Step::Keys("3"),
            Step::Pause(1_000),
        ],
    };
    listener
        .run(stack.ivr_addr(), dir.path(), CALL_LIMIT)
        .await
        .expect("the listener's call succeeds");
    let token = stack.login("101").await;
    stack
        .wait_receipt(&token, id.as_str(), "102", "heard")
        .await;
    stack.stop().await;
}

support::both_modes!(record_send_and_listen);
