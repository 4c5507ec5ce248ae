//! Delivery plugins deciding real deliveries, end to end, in both modes: installed through the
//! same path as `hark plugin add`, announced with `plugin.changed`, and swapped while messages
//! flow.

mod support;

use hark_core::{
    ids::MessageId,
    store::{messages, plugins as stored},
};
use hark_test_plugins as fixtures;
use support::{Mode, Stack, audio::sine_wav, eventually};

async fn install(stack: &Stack, path: &str, config: &str, priority: i32) -> anyhow::Result<String> {
    hark::plugin_cmd::add(
        &stack.app.deps.store,
        &stack.app.config,
        std::path::Path::new(path),
        config.to_owned(),
        priority,
        true,
    )
    .await
}

async fn send(stack: &Stack, token: &str, urgent: bool) -> String {
    let to = if urgent { "102&urgent=true" } else { "102" };
    stack.send(token, to, sine_wav(440.0, 1.0, 16_000)).await
}

async fn attempts(stack: &Stack, id: &str) -> Vec<(String, Option<String>, i64)> {
    stack.attempts(id).await
}

/// Wait until the running router has loaded `n` plugins: a `plugin.changed` was handled.
async fn wait_loaded(stack: &Stack, token: &str, urgent_plans_callbacks: bool) {
    // The observable effect of a reload is the next decision; probe with urgent messages.
    eventually("the router to reload its plugins", || async {
        let id = send(stack, token, true).await;
        let has_callback = attempts(stack, &id).await.iter().any(|a| a.0 == "callback");
        (has_callback == urgent_plans_callbacks).then_some(())
    })
    .await;
}

async fn plugins_decide_deliveries(mode: Mode) {
    let stack = Stack::start(mode).await;
    stack.give_bob_a_phone().await;
    let alice = stack.login("101").await;

    // No plugins: the profile (e-mail by default) decides.
    let plain = send(&stack, &alice, true).await;
    assert_eq!(attempts(&stack, &plain).await, [("email".into(), None, 0)]);

    // urgent-escalation: urgent messages get e-mail plus a callback now and twice more.
    let name = install(
        &stack,
        fixtures::URGENT_ESCALATION,
        r#"{"repeat_secs": 120}"#,
        10,
    )
    .await
    .unwrap();
    assert_eq!(name, "urgent-escalation");
    wait_loaded(&stack, &alice, true).await;
    let urgent = send(&stack, &alice, true).await;
    let phone = Some("phone".to_owned());
    assert_eq!(
        attempts(&stack, &urgent).await,
        [
            ("callback".into(), phone.clone(), 0),
            ("email".into(), None, 0),
            ("callback".into(), phone.clone(), 120),
            ("callback".into(), phone, 240),
        ]
    );
    // It passes on ordinary messages: the profile decides.
    let ordinary = send(&stack, &alice, false).await;
    assert_eq!(
        attempts(&stack, &ordinary).await,
        [("email".into(), None, 0)]
    );

    // A plugin that traps, asked first, is skipped: delivery fails open to the next one.
    install(&stack, fixtures::TRAP, "", 1).await.unwrap();
    eventually("the trap plugin's failures to be counted", || async {
        let id = send(&stack, &alice, true).await;
        let a = attempts(&stack, &id).await;
        assert!(
            a.iter().any(|s| s.0 == "callback"),
            "urgent-escalation still decides: {a:?}"
        );
        let rows = stack.app.deps.store.run(stored::list).await.unwrap();
        rows.iter()
            .any(|p| p.name == "trap" && p.failures > 0 && p.failures == p.calls)
            .then_some(())
    })
    .await;

    // A refused upload leaves the installed version alone.
    let refused = install(&stack, fixtures::SOCKETS, "", 10)
        .await
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("wasi:sockets"),
        "{refused:#}"
    );
    let rows = stack.app.deps.store.run(stored::list).await.unwrap();
    let names: Vec<&str> = rows.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["trap", "urgent-escalation"]);

    // Every message so far reached Bob by e-mail.
    let sent = stack.sent(&alice).await;
    let n = sent["messages"].as_array().unwrap().len();
    stack
        .wait_emails(|e| e.iter().filter(|m| m.to == "bob@example.org").count() == n)
        .await;
    stack.stop().await;
}

async fn swapping_plugins_under_load_loses_no_message(mode: Mode) {
    let stack = Stack::start(mode).await;
    stack.give_bob_a_phone().await;
    let alice = stack.login("101").await;
    install(&stack, fixtures::URGENT_ESCALATION, "", 10)
        .await
        .unwrap();
    wait_loaded(&stack, &alice, true).await;

    const N: usize = 24;
    let sender = async {
        let mut ids = Vec::new();
        for i in 0..N {
            ids.push(send(&stack, &alice, i % 2 == 0).await);
        }
        ids
    };
    let swapper = async {
        let store = &stack.app.deps.store;
        hark::plugin_cmd::set_enabled(store, "urgent-escalation".into(), false)
            .await
            .unwrap();
        install(&stack, fixtures::PRESENCE_FIRST, "", 20)
            .await
            .unwrap();
        hark::plugin_cmd::set_enabled(store, "urgent-escalation".into(), true)
            .await
            .unwrap();
        install(&stack, fixtures::URGENT_ESCALATION, r#"{"times": 1}"#, 10)
            .await
            .unwrap();
    };
    let (ids, ()) = tokio::join!(sender, swapper);
    // Every message was planned and reached Bob, whichever plugin version decided.
    for id in &ids {
        let a = attempts(&stack, id).await;
        assert!(a.iter().any(|s| s.0 == "email"), "{id}: {a:?}");
    }
    let before = 1; // wait_loaded's probe
    stack
        .wait_emails(|e| e.iter().filter(|m| m.to == "bob@example.org").count() >= N + before)
        .await;
    stack.stop().await;
}

async fn plugins_dropped_into_the_folder_come_and_go(mode: Mode) {
    let stack = Stack::start(mode).await;
    let dir = stack.app.config.plugins_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("presence.config"), r#"{"email_after_secs": 30}"#).unwrap();
    std::fs::copy(fixtures::PRESENCE_FIRST, dir.join("presence.wasm")).unwrap();
    let store = stack.app.deps.store.clone();
    let installed = eventually("the dropped-in plugin to be installed", || async {
        let rows = store.run(stored::list).await.unwrap();
        rows.into_iter()
            .find(|p| p.name == "presence-first" && p.enabled)
    })
    .await;
    assert_eq!(installed.config, r#"{"email_after_secs": 30}"#);
    assert_eq!(installed.priority, 100);

    // A file that fails validation never replaces what runs: overwrite the same file with a
    // forbidden component, then drop a valid one as a marker that the folder was scanned.
    std::fs::copy(fixtures::SOCKETS, dir.join("presence.wasm")).unwrap();
    std::fs::copy(fixtures::TEMPLATE, dir.join("template.wasm")).unwrap();
    eventually("the marker plugin", || async {
        let rows = store.run(stored::list).await.unwrap();
        rows.iter().any(|p| p.name == "template").then_some(())
    })
    .await;
    let rows = store.run(stored::list).await.unwrap();
    let current = rows.iter().find(|p| p.name == "presence-first").unwrap();
    assert_eq!(current.sha256, installed.sha256);
    assert!(current.enabled);
    assert!(!rows.iter().any(|p| p.name == "sockets"));

    // Removing a file disables its plugin.
    std::fs::remove_file(dir.join("template.wasm")).unwrap();
    eventually("the removed plugin to be disabled", || async {
        let rows = store.run(stored::list).await.unwrap();
        rows.iter()
            .any(|p| p.name == "template" && !p.enabled)
            .then_some(())
    })
    .await;
    stack.stop().await;
}

async fn unanswered_attempts_give_up_and_the_sender_is_told(mode: Mode) {
    let stack = Stack::start(mode).await;
    stack.give_bob_a_phone().await;
    // A callback nobody answers (no IVR yet takes the command): give up after a second.
    stack
        .set_profile(
            "102",
            r#"[{"channel": "callback", "give_up_after_secs": 1}]"#,
        )
        .await;
    let alice = stack.login("101").await;
    let id = send(&stack, &alice, false).await;
    let m = stack.wait_receipt(&alice, &id, "102", "failed").await;
    assert_eq!(support::recipient(&m, "102")["state"], "failed", "{m}");
    stack.stop().await;
}

async fn two_routers_never_fire_an_attempt_twice(mode: Mode) {
    let mut stack = Stack::start(mode).await;
    stack.start_more(&[hark::app::Service::Router]).await;
    // Two e-mails per message: one at once, one a second later (fired by the schedulers).
    const TWO_STEPS: &str = r#"[{"channel": "email"}, {"channel": "email", "after_secs": 1}]"#;
    stack.set_profile("102", TWO_STEPS).await;
    let alice = stack.login("101").await;
    const N: usize = 12;
    let mut ids = Vec::new();
    for _ in 0..N {
        ids.push(send(&stack, &alice, false).await);
    }
    stack
        .wait_emails(|e| e.iter().filter(|m| m.to == "bob@example.org").count() >= 2 * N)
        .await;
    // Every attempt settled once; a marker sent after them, delayed like them, arrives after
    // anything a duplicate dispatch could have produced. (router/tests/scheduler.rs races the
    // claim itself.)
    stack.set_profile("103", TWO_STEPS).await;
    let marker = stack
        .send(&alice, "103", sine_wav(523.0, 1.0, 16_000))
        .await;
    stack
        .wait_receipt(&alice, &marker, "103", "delivered")
        .await;
    stack
        .wait_emails(|e| e.iter().filter(|m| m.to == "carol@example.org").count() == 2)
        .await;
    let bob = stack
        .emails()
        .into_iter()
        .filter(|m| m.to == "bob@example.org")
        .count();
    assert_eq!(bob, 2 * N);
    for id in &ids {
        let a = attempts(&stack, id).await;
        assert_eq!(a.len(), 2, "{id}: {a:?}");
    }
    stack.stop().await;
}

async fn publish(stack: &Stack, event: hark_core::events::Event) {
    let e = hark_core::events::Envelope::new(event);
    stack
        .app
        .deps
        .bus
        .publish(
            hark_core::bus::Exchange::Events,
            hark_core::bus::BusMessage {
                id: e.id.to_string(),
                routing_key: e.body.routing_key(),
                body: serde_json::to_vec(&e).unwrap(),
            },
        )
        .await
        .unwrap();
}

async fn live_delivery_begins_at_the_beep(mode: Mode) {
    use hark_core::events::{Event, Origin};
    let stack = Stack::start(mode).await;
    install(&stack, fixtures::PRESENCE_FIRST, "", 10)
        .await
        .unwrap();
    // Bob is online, so presence-first's plan (live first) differs from the profile's.
    stack.set_online("102").await;
    wait_loaded_any(&stack).await;
    let (a, b) = (stack.user_id("101").await, stack.user_id("102").await);
    let id = MessageId::new();
    let (mid, from, to) = (id.clone(), a.clone(), b.clone());
    stack
        .app
        .deps
        .store
        .run(move |c| messages::create_recording(c, &mid, &from, Origin::Phone, false, &[to]))
        .await
        .unwrap();
    publish(
        &stack,
        Event::MessageStarted {
            message_id: id.clone(),
            sender_id: a.clone(),
            recipients: vec![b.clone()],
            urgent: false,
        },
    )
    .await;
    // Bob, online, is streamed the message while it is being spoken.
    assert_eq!(
        attempts(&stack, id.as_str()).await,
        [("stream".into(), None, 0)]
    );

    // The recording ends: the rest of the plan (e-mail later) follows, with no second live
    // channel for someone already listening.
    let key = stack
        .app
        .deps
        .blobs
        .put(sine_wav(440.0, 1.0, 16_000))
        .await
        .unwrap();
    let mid = id.clone();
    stack
        .app
        .deps
        .store
        .run(move |c| messages::complete_recording(c, &mid, &key, 1000))
        .await
        .unwrap();
    publish(
        &stack,
        Event::MessageRecorded {
            message_id: id.clone(),
            sender_id: a,
            recipients: vec![b],
            origin: Origin::Phone,
            duration_ms: 1000,
            urgent: false,
        },
    )
    .await;
    let all = eventually("the rest of the plan", || async {
        let a = attempts(&stack, id.as_str()).await;
        (a.len() > 1).then_some(a)
    })
    .await;
    assert_eq!(
        all,
        [("stream".into(), None, 0), ("email".into(), None, 60)]
    );
    stack.stop().await;
}

/// Wait until the router plans with the installed plugin: a probe message to Bob (online) gets
/// more than the profile's single e-mail.
async fn wait_loaded_any(stack: &Stack) {
    let store = stack.app.deps.store.clone();
    eventually("a stored plugin", || async {
        let rows = store.run(stored::list).await.unwrap();
        (!rows.is_empty()).then_some(())
    })
    .await;
    let alice = stack.login("101").await;
    eventually("the router to use the plugin", || async {
        let id = send(stack, &alice, false).await;
        let a = attempts(stack, &id).await;
        (a.len() > 1).then_some(())
    })
    .await;
}

async fn coming_online_releases_waiting_messages(mode: Mode) {
    use hark_core::events::{Event, Outcome, PresenceStatus};
    let stack = Stack::start(mode).await;
    let alice = stack.login("101").await;
    let id = send(&stack, &alice, false).await;
    stack.wait_receipt(&alice, &id, "102", "delivered").await;
    let bob = stack.user_id("102").await;
    for _ in 0..2 {
        publish(
            &stack,
            Event::PresenceChanged {
                user_id: bob.clone(),
                status: PresenceStatus::Available,
            },
        )
        .await;
    }
    // Events are handled in order: once a later message is delivered, both were handled.
    let marker = stack
        .send(&alice, "103", sine_wav(523.0, 1.0, 16_000))
        .await;
    stack
        .wait_receipt(&alice, &marker, "103", "delivered")
        .await;
    let a = attempts(&stack, &id).await;
    let popups = a.iter().filter(|s| s.0 == "popup").count();
    assert_eq!(popups, 1, "{a:?}");

    // Bob turns it down: the sender hears "declined".
    let popup = stack
        .attempt_rows(&id)
        .await
        .into_iter()
        .find(|a| a.channel == "popup")
        .unwrap();
    publish(
        &stack,
        Event::DeliveryOutcome {
            attempt_id: hark_core::ids::AttemptId::from(popup.id.as_str()),
            message_id: MessageId::from(id.as_str()),
            recipient_id: bob,
            channel: hark_core::channel::Channel::Popup,
            outcome: Outcome::Declined,
            detail: None,
        },
    )
    .await;
    let m = stack.wait_receipt(&alice, &id, "102", "declined").await;
    assert_eq!(support::recipient(&m, "102")["state"], "declined", "{m}");
    stack.stop().await;
}

async fn a_router_killed_mid_batch_loses_nothing(mode: Mode) {
    let mut stack = Stack::start(mode).await;
    stack.start_more(&[hark::app::Service::Router]).await;
    let alice = stack.login("101").await;
    const N: usize = 30;
    let mut ids = Vec::new();
    for i in 0..N {
        // Group 200: Bob, Carol and Dan.
        ids.push(
            stack
                .send(&alice, "200", sine_wav(440.0, 1.0, 16_000))
                .await,
        );
        if i == N / 3 {
            stack.crash_more().await;
        }
    }
    let emails = stack.wait_emails(|e| e.len() >= 3 * N).await;
    for id in &ids {
        let a = attempts(&stack, id).await;
        assert_eq!(a.len(), 3, "{id}: {a:?}");
    }
    // A marker after everything: nothing more was sent than one e-mail per recipient.
    let marker = stack
        .send(&alice, "104", sine_wav(523.0, 1.0, 16_000))
        .await;
    stack
        .wait_receipt(&alice, &marker, "104", "delivered")
        .await;
    assert_eq!(stack.emails().len(), 3 * N + 1, "{}", emails.len());
    stack.stop().await;
}

support::both_modes!(
    plugins_decide_deliveries,
    swapping_plugins_under_load_loses_no_message,
    plugins_dropped_into_the_folder_come_and_go,
    unanswered_attempts_give_up_and_the_sender_is_told,
    two_routers_never_fire_an_attempt_twice,
    live_delivery_begins_at_the_beep,
    coming_online_releases_waiting_messages,
    a_router_killed_mid_batch_loses_nothing,
);
