//! Hark as a distributed system: each service its own process, two of each where it matters,
//! on PostgreSQL and RabbitMQ, working together across nodes.
//!
//! - a recipient connected to portal B gets the pop-up for a message sent through portal A and
//!   routed by whichever router took it; presence and receipts cross the nodes too;
//! - a plugin uploaded through one portal reaches both routers (each shows it in `/metrics`,
//!   and each, on its own, plans by it);
//! - callbacks are placed by either IVR;
//! - every process serves `/healthz`, `/readyz` and `/metrics`.

mod support;

use reqwest::StatusCode;
use std::time::Duration;
use support::{
    WAIT, audio::sine_wav, cluster::Cluster, eventually, sipp::Callee, traffic::api_token,
    web::WebSession,
};

async fn upload(cluster: &Cluster, base: &str, token: &str, to: &str) -> String {
    let r = cluster
        .http
        .post(format!("{base}/api/v1/messages?to={to}"))
        .bearer_auth(token)
        .body(sine_wav(440.0, 0.6, 16_000))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_popups_and_receipts_cross_portal_nodes() {
    let mut cluster = Cluster::new(&support::amqp_url()).await.unwrap();
    cluster.set_profile("102", r#"[{"channel":"popup"}]"#).await;
    let a = cluster.spawn("portal").await.unwrap();
    let b = cluster.spawn("portal").await.unwrap();
    cluster.spawn("router").await.unwrap();
    cluster.spawn("notifier").await.unwrap();
    let (base_a, base_b) = (cluster.procs[a].base(), cluster.procs[b].base());

    // Alice on A, Bob on B.
    let alice_web = WebSession::login(&base_a, "101", hark::demo::DEMO_PASSWORD).await;
    let mut alice_tab = alice_web.socket().await.unwrap();
    alice_tab.expect("hello", |_| true).await;
    let bob_web = WebSession::login(&base_b, "102", hark::demo::DEMO_PASSWORD).await;
    let mut bob_tab = bob_web.socket().await.unwrap();
    bob_tab.expect("hello", |_| true).await;
    alice_tab.expect_presence("102", "available").await;

    // Sent through A; Bob's pop-up arrives on B; his "seen" there is Alice's receipt on A.
    let token = api_token(&cluster.http, std::slice::from_ref(&base_a), "101")
        .await
        .unwrap();
    let id = upload(&cluster, &base_a, &token, "102").await;
    let popup = bob_tab
        .expect("popup", |f| f["message_id"] == id.as_str())
        .await;
    bob_tab
        .send(serde_json::json!({"type": "seen", "attempt_id": popup["attempt_id"]}))
        .await;
    alice_tab
        .expect_receipt(id.as_str(), "102", "delivered")
        .await;

    // Bob leaves B: Alice, on A, sees him go.
    bob_tab.close().await;
    alice_tab.expect_presence("102", "offline").await;
    alice_tab.close().await;
    cluster.stop().await;
}

/// The channels the router planned for a message, once it has.
async fn planned(cluster: &Cluster, id: &str) -> Vec<String> {
    let id = hark_core::ids::MessageId::from(id);
    eventually("a plan", || {
        let (store, id) = (cluster.store.clone(), id.clone());
        async move {
            let list = store
                .run(move |c| hark_core::store::attempts::list_attempts(c, &id))
                .await
                .ok()?;
            (!list.is_empty()).then(|| list.into_iter().map(|a| a.channel).collect())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_uploaded_through_one_portal_reaches_both_routers() {
    let mut cluster = Cluster::new(&support::amqp_url()).await.unwrap();
    // The plugin calls urgent messages' recipients back (nobody answers here).
    cluster
        .give_phone("102", "sip:bob@127.0.0.1:9".into())
        .await;
    let a = cluster.spawn("portal").await.unwrap();
    cluster.spawn("portal").await.unwrap();
    let r1 = cluster.spawn("router").await.unwrap();
    let r2 = cluster.spawn("router").await.unwrap();
    cluster.spawn("notifier").await.unwrap();
    let base = cluster.procs[a].base();

    let admin = WebSession::login(&base, "101", hark::demo::DEMO_PASSWORD).await;
    let (status, page) = admin
        .upload_plugin(
            hark_test_plugins::bytes(hark_test_plugins::URGENT_ESCALATION),
            r#"{"repeat_secs": 120}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Both routers reloaded on plugin.changed, and say so.
    for r in [r1, r2] {
        eventually("the router to show the plugin in /metrics", || async {
            let m = cluster.metrics(r).await.ok()?;
            m.lines()
                .any(|l| {
                    l.starts_with("hark_router_plugin_active{")
                        && l.contains("name=\"urgent-escalation\"")
                        && l.ends_with(" 1")
                })
                .then_some(())
        })
        .await;
    }
    // Each router on its own plans urgent messages by it (a callback step).
    let token = api_token(&cluster.http, std::slice::from_ref(&base), "101")
        .await
        .unwrap();
    for (alone, stopped) in [(r1, r2), (r2, r1)] {
        cluster.terminate(stopped).await.unwrap();
        let id = upload(&cluster, &base, &token, "102&urgent=true").await;
        let plan = planned(&cluster, &id).await;
        assert!(
            plan.iter().any(|c| c == "callback"),
            "router {} planned {plan:?}",
            cluster.procs[alone].name
        );
        cluster.restart(stopped).await.unwrap();
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_placed_by_either_ivr() {
    const CALLS: usize = 6;
    let mut cluster = Cluster::new(&support::amqp_url()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let callee = Callee::Answer {
        auth: None,
        after_ms: 300,
        keys: "3",
    }
    .listen_calls(dir.path(), Duration::from_secs(120), CALLS)
    .await
    .unwrap();
    cluster
        .give_phone("102", format!("sip:bob@{}", callee.addr))
        .await;
    cluster
        .set_profile("102", r#"[{"channel":"callback","give_up_after_secs":90}]"#)
        .await;
    let p = cluster.spawn("portal").await.unwrap();
    cluster.spawn("router").await.unwrap();
    cluster.spawn("notifier").await.unwrap();
    let i1 = cluster.spawn("ivr").await.unwrap();
    let i2 = cluster.spawn("ivr").await.unwrap();
    let base = cluster.procs[p].base();
    let token = api_token(&cluster.http, std::slice::from_ref(&base), "101")
        .await
        .unwrap();

    let mut ids = Vec::new();
    for _ in 0..CALLS {
        ids.push(upload(&cluster, &base, &token, "102").await);
    }
    // Every callback ends with Bob declining on the phone.
    for id in &ids {
        let id = hark_core::ids::MessageId::from(id.as_str());
        eventually("Bob to decline on the phone", || {
            let (store, id) = (cluster.store.clone(), id.clone());
            async move {
                let rs = store
                    .run(move |c| hark_core::store::receipts::list_for_message(c, &id))
                    .await
                    .ok()?;
                rs.iter().any(|r| r.kind == "declined").then_some(())
            }
        })
        .await;
    }
    tokio::time::timeout(WAIT, callee.finish(WAIT))
        .await
        .expect("the callee finishes")
        .expect("every call went as expected");
    // Both IVRs placed some of them.
    let mut placed = Vec::new();
    for i in [i1, i2] {
        let m = cluster.metrics(i).await.unwrap();
        let n: u64 = m
            .lines()
            .find(|l| l.starts_with("hark_ivr_calls_total{direction=\"outbound\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0);
        placed.push(n);
    }
    assert_eq!(placed.iter().sum::<u64>(), CALLS as u64, "{placed:?}");
    assert!(
        placed.iter().all(|&n| n > 0),
        "each IVR placed some: {placed:?}"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_serves_health_readiness_and_metrics() {
    let mut cluster = Cluster::new(&support::amqp_url()).await.unwrap();
    for service in ["portal", "router", "notifier", "ivr"] {
        cluster.spawn(service).await.unwrap();
    }
    for i in 0..cluster.procs.len() {
        let ops = cluster.procs[i].ops;
        let health = cluster
            .http
            .get(format!("http://127.0.0.1:{ops}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let (status, body) = cluster.readyz(i).await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("database ok") && body.contains("bus ok"),
            "{body}"
        );
        let m = cluster.metrics(i).await.unwrap();
        for line in [
            "hark_up{dependency=\"database\"} 1",
            "hark_up{dependency=\"bus\"} 1",
            "process_resident_memory_bytes ",
            "hark_outbox_pending ",
        ] {
            assert!(
                m.contains(line),
                "{}: {line} missing from\n{m}",
                cluster.procs[i].name
            );
        }
        assert!(m.ends_with("# EOF\n"));
    }
    // The IVR's own metrics are in its process's exposition.
    let ivr = cluster.of("ivr")[0];
    let m = cluster.metrics(ivr).await.unwrap();
    assert!(m.contains("hark_ivr_active_calls 0"), "{m}");
    // SIGTERM: a clean stop, exit status 0.
    let status = cluster.terminate(ivr).await.unwrap();
    assert!(status.success(), "{status}");
    cluster.stop().await;
}

/// A phone registered through Kamailio (which adds a Path naming itself and the phone's
/// address) is rung by the other IVR: the IVR that took the REGISTER is killed, and the
/// survivor, reading the registration from the shared store, calls the phone through
/// Kamailio (the Path as the INVITE's Route); the phone answers and Bob hears the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_registered_through_kamailio_is_called_back_by_the_other_ivr() {
    use hark_core::store::{devices, registrations, users};
    use support::{baresip::Baresip, kamailio::Kamailio};
    const PASSWORD: &str = "bobs-phone-secret";
    let mut cluster = Cluster::new(&support::amqp_url()).await.unwrap();
    cluster
        .store
        .run(|c| {
            let bob = users::find_by_extension(c, "102")?.expect("demo user");
            let d = devices::add(c, &bob.user_id(), "sip", "sip:102@hark", None)?;
            devices::set_sip_credentials(
                c,
                &bob.user_id(),
                &d.id,
                "102",
                PASSWORD,
                "hark",
                false,
                false,
            )?;
            Ok(())
        })
        .await
        .unwrap();
    cluster
        .set_profile("102", r#"[{"channel":"callback","give_up_after_secs":90}]"#)
        .await;
    let p = cluster.spawn("portal").await.unwrap();
    cluster.spawn("router").await.unwrap();
    cluster.spawn("notifier").await.unwrap();
    let ivrs = [
        cluster.spawn("ivr").await.unwrap(),
        cluster.spawn("ivr").await.unwrap(),
    ];
    let sip: Vec<std::net::SocketAddr> = ivrs
        .iter()
        .map(|&i| ([127, 0, 0, 1], cluster.procs[i].port.unwrap()).into())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let kamailio = Kamailio::start(dir.path(), &sip).await.unwrap();

    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, sine_wav(0.0, 90.0, 8000)).unwrap();
    let mut phone = Baresip::registered(
        "102",
        PASSWORD,
        kamailio.addr,
        &mic,
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    phone.wait_log("200 OK () [1 binding]", WAIT).await.unwrap();
    let binding = cluster
        .store
        .run(|c| {
            let bob = users::find_by_extension(c, "102")?.expect("demo user");
            registrations::of_user(c, &bob.user_id(), hark_core::store::now())
        })
        .await
        .unwrap();
    let path = binding[0].path.clone().unwrap_or_default();
    assert!(
        path.contains(&kamailio.addr.to_string()) && path.contains("received="),
        "Kamailio's Path is kept: {path:?}"
    );
    let mut took = None;
    for i in ivrs {
        let m = cluster.metrics(i).await.unwrap();
        if m.contains("hark_ivr_registers_total{status=\"200\"}") {
            took = Some(i);
        }
    }
    let took = took.expect("one IVR took the REGISTER");
    cluster.kill9(took).await;

    let base = cluster.procs[p].base();
    let token = api_token(&cluster.http, std::slice::from_ref(&base), "101")
        .await
        .unwrap();
    let id = upload(&cluster, &base, &token, "102").await;
    if let Err(e) = phone
        .event("CALL_ESTABLISHED", Duration::from_secs(60))
        .await
    {
        panic!(
            "{e}\n--- Hark:\n{}\n--- Kamailio:\n{}",
            cluster.logs(40),
            std::fs::read_to_string(&kamailio.log).unwrap_or_default()
        );
    }
    let id = hark_core::ids::MessageId::from(id.as_str());
    eventually("Bob to hear it on his phone", || {
        let (store, id) = (cluster.store.clone(), id.clone());
        async move {
            let rs = store
                .run(move |c| hark_core::store::receipts::list_for_message(c, &id))
                .await
                .ok()?;
            rs.iter().any(|r| r.kind == "heard").then_some(())
        }
    })
    .await;
    phone.stop().await;
    kamailio.stop().await;
    cluster.stop().await;
}
