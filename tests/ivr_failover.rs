//! An IVR node killed with SIGKILL while callers are recording, behind Kamailio, while a
//! stream of 500 uploaded messages flows through the rest of the cluster.
//!
//! Two IVR processes sit behind Kamailio's dispatcher (`scripts/cluster/kamailio.cfg`). Twenty
//! callers (sipp) dial `*102` through Kamailio, key their PIN and speak (a 440 Hz tone). Once
//! every one is recording, the IVR carrying most of them is killed. Then:
//! - the calls on the other IVR go on and end normally (sipp counts them successful);
//! - the killed node's recordings are finished by the other IVR from their spool files, each
//!   with everything said up to the kill (within a live fragment), and delivered once;
//! - new calls through Kamailio reach the surviving IVR;
//! - the upload stream is delivered exactly once, as in `faults.rs`.

mod support;

use diesel::prelude::*;
use hark_core::store::schema::{messages, nodes, recordings, users};
use std::time::{Duration, SystemTime};
use support::{
    cluster::Cluster,
    kamailio::Kamailio,
    sipp::RecordingCalls,
    traffic::{Accepted, Stream, Tab, api_token, tally},
};

const STEPS: &str = r#"[{"channel": "popup"}, {"channel": "email"}]"#;
const CALLS: usize = 20;

/// Recordings in progress: (message id, node id, started at).
async fn in_progress(cluster: &Cluster) -> Vec<(String, String, chrono::NaiveDateTime)> {
    cluster
        .store
        .run(|c| {
            Ok(recordings::table
                .select((
                    recordings::message_id,
                    recordings::node_id,
                    recordings::started_at,
                ))
                .load(c)?)
        })
        .await
        .unwrap()
}

/// The nodes table id of the process with `pid`.
async fn node_of(cluster: &Cluster, pid: u32) -> String {
    let pid = i32::try_from(pid).unwrap();
    support::eventually("the IVR's heartbeat", || {
        let store = cluster.store.clone();
        async move {
            store
                .run(move |c| {
                    Ok(nodes::table
                        .filter(nodes::pid.eq(pid))
                        .select(nodes::id)
                        .first::<String>(c)
                        .optional()?)
                })
                .await
                .ok()
                .flatten()
        }
    })
    .await
}

/// Messages Dave (104) sent by phone, with their state and length.
async fn phone_messages(cluster: &Cluster) -> Vec<(String, String, i32, chrono::NaiveDateTime)> {
    cluster
        .store
        .run(|c| {
            Ok(messages::table
                .inner_join(users::table.on(users::id.eq(messages::sender_id)))
                .filter(users::extension.eq("104"))
                .select((
                    messages::id,
                    messages::state,
                    messages::duration_ms,
                    messages::created_at,
                ))
                .load(c)?)
        })
        .await
        .unwrap()
}

fn wall(at: chrono::NaiveDateTime) -> SystemTime {
    SystemTime::UNIX_EPOCH
        + Duration::from_micros(u64::try_from(at.and_utc().timestamp_micros()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ivr_killed_during_recordings() {
    let mut cluster = Cluster::new(&support::amqp_url()).await.unwrap();
    cluster.set_profile("102", STEPS).await;
    cluster.set_profile("103", STEPS).await;
    // Long enough that no recording ends on silence while it is being counted.
    cluster.set_env("HARK_IVR__SILENCE_SECS", "10");
    for service in [
        "portal", "portal", "router", "router", "notifier", "notifier", "ivr", "ivr",
    ] {
        cluster.spawn(service).await.unwrap();
    }
    let ivrs = cluster.of("ivr");
    let sip: Vec<std::net::SocketAddr> = ivrs
        .iter()
        .map(|&i| ([127, 0, 0, 1], cluster.procs[i].port.unwrap()).into())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let kamailio = Kamailio::start(dir.path(), &sip).await.unwrap();

    let portals = cluster.portals();
    let mut other = portals.clone();
    other.rotate_left(1);
    let bob = Tab::open(portals.clone(), "102").await.unwrap();
    let carol = Tab::open(other, "103").await.unwrap();
    let token = api_token(&cluster.http, &portals, "101").await.unwrap();
    let stream = Stream::start(portals.clone(), token, "102,103", 500, 15.0, 8);

    // Twenty callers through Kamailio, each speaking for 30 s unless cut off.
    let mut first = RecordingCalls {
        from: "104",
        to: "*102",
        calls: CALLS,
        rate: 10,
        hold_ms: 30_000,
    }
    .start(kamailio.addr, dir.path(), "first")
    .await
    .unwrap();
    let recording = support::eventually("every caller recording for 2 s", || async {
        let rows = in_progress(&cluster).await;
        let now = hark_core::store::now();
        (rows.len() == CALLS
            && rows
                .iter()
                .all(|r| now - r.2 > chrono::Duration::seconds(2)))
        .then_some(rows)
    })
    .await;
    let nodes = [
        node_of(&cluster, cluster.procs[ivrs[0]].pid().unwrap()).await,
        node_of(&cluster, cluster.procs[ivrs[1]].pid().unwrap()).await,
    ];
    let on = |n: &str| recording.iter().filter(|r| r.1 == n).count();
    let victim = usize::from(on(&nodes[1]) > on(&nodes[0]));
    let (dead, alive) = (on(&nodes[victim]), on(&nodes[1 - victim]));
    assert!(
        dead > 0 && alive > 0,
        "Kamailio spread the calls: {dead} and {alive}"
    );
    let cut: std::collections::HashMap<String, chrono::NaiveDateTime> = recording
        .iter()
        .filter(|r| r.1 == nodes[victim])
        .map(|r| (r.0.clone(), r.2))
        .collect();
    let killed_at = SystemTime::now();
    cluster.kill9(ivrs[victim]).await;

    // New calls reach the IVR that is left.
    let mut second = RecordingCalls {
        from: "104",
        to: "*102",
        calls: 5,
        rate: 5,
        // Past the prompts and the beep, and two seconds of speech.
        hold_ms: 8_000,
    }
    .start(kamailio.addr, dir.path(), "second")
    .await
    .unwrap();
    let (ok, failed) = second.finish(Duration::from_secs(120)).await.unwrap();
    assert_eq!(
        (ok, failed),
        (5, 0),
        "calls after the kill go to the other IVR"
    );

    let (ok, failed) = first.finish(Duration::from_secs(180)).await.unwrap();
    assert_eq!(
        (ok as usize, failed as usize),
        (alive, dead),
        "the other IVR's calls went on; the killed one's were cut; sipp:\n{}",
        first.errors()
    );

    // The killed node's recordings are sent with what was said up to the kill.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let sent = loop {
        let all = phone_messages(&cluster).await;
        if all.len() >= CALLS + 5 && all.iter().all(|m| m.1 != "recording") {
            break all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "phone messages not all finished: {:?}\nrecordings in progress: {:?}\nnodes: {nodes:?}",
            all.iter().map(|m| (&m.0, &m.1, m.2)).collect::<Vec<_>>(),
            in_progress(&cluster).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let states: Vec<(&str, i32)> = sent.iter().map(|m| (m.1.as_str(), m.2)).collect();
    assert!(
        sent.len() == CALLS + 5 && sent.iter().all(|m| m.1 == "complete"),
        "one message per call, each sent: {states:?}"
    );
    for (id, _, duration_ms, _) in sent.iter().filter(|m| cut.contains_key(&m.0)) {
        let said = killed_at.duration_since(wall(cut[id])).unwrap().as_millis() as i64;
        assert!(
            (i64::from(*duration_ms) - said).abs() <= 500,
            "{id}: {duration_ms} ms kept of {said} ms said before the kill"
        );
    }
    // Each holds the tone that was sent.
    let blobs = hark_core::blob::BlobStore::new(
        cluster.dir.path().join("data/blobs"),
        &cluster_key(&cluster),
    )
    .unwrap();
    for id in cut.keys().take(3) {
        let key = {
            let id = id.clone();
            cluster
                .store
                .run(move |c| {
                    Ok(messages::table
                        .find(id)
                        .select(messages::blob_key)
                        .first::<Option<String>>(c)?)
                })
                .await
                .unwrap()
                .unwrap()
        };
        let wav = blobs.get(&key).await.unwrap();
        let audio = hark_core::audio::decode(&wav, 600).unwrap();
        let ms = support::audio::tone_ms(&audio.samples, audio.sample_rate, 440.0);
        assert!(ms > 1500, "{id}: {ms} ms of the caller's tone");
    }

    // Every phone message reached Bob once; the upload stream reached everyone once.
    let phone: Vec<Accepted> = sent
        .iter()
        .map(|m| Accepted {
            id: m.0.clone(),
            at: wall(m.3),
        })
        .collect();
    let accepted = stream.finish().await.unwrap();
    let t = tally(
        &cluster,
        "101",
        &accepted,
        &[&bob, &carol],
        Duration::from_secs(240),
    )
    .await
    .unwrap();
    let p = tally(&cluster, "104", &phone, &[&bob], Duration::from_secs(240))
        .await
        .unwrap();
    let recovered = p.recovered_after(
        &phone
            .iter()
            .filter(|a| cut.contains_key(&a.id))
            .cloned()
            .collect::<Vec<_>>(),
        killed_at,
    );
    let line = format!(
        "{}; phone: {} recordings cut by the kill, {} on the other IVR, {} after; {}",
        t.line("ivr killed", Duration::ZERO),
        dead,
        alive,
        5,
        p.line("ivr killed (phone messages)", recovered)
    );
    eprintln!("{line}");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("ivr-killed.txt"), &line);
    t.assert_exactly_once();
    p.assert_exactly_once();
    bob.close().await;
    carol.close().await;
    kamailio.stop().await;
    cluster.stop().await;
}

/// The blob key every process of the cluster was given.
fn cluster_key(cluster: &Cluster) -> String {
    cluster.env("HARK_BLOBS__KEY").expect("a blob key")
}
