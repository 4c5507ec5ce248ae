//! Delivery plugins deciding real deliveries, end to end, in both modes: installed through the
//! same path as `hark plugin add`, announced with `plugin.changed`, and swapped while messages
//! flow.

mod support;

use diesel::prelude::*;
use hark_core::{
    ids::MessageId,
    store::{messages, plugins as stored, schema::users},
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

async fn give_bob_a_phone(stack: &Stack) {
    stack
        .app
        .deps
        .store
        .run(|c| {
            diesel::update(users::table.filter(users::extension.eq("102")))
                .set(users::phone_uri.eq("sip:bob@127.0.0.1:5099"))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn send(stack: &Stack, token: &str, urgent: bool) -> String {
    let to = if urgent { "102&urgent=true" } else { "102" };
    stack.send(token, to, sine_wav(440.0, 1.0, 16_000)).await
}

/// The attempts the router stored for a message, once there are some: (channel, endpoint,
/// seconds after the first).
async fn attempts(stack: &Stack, id: &str) -> Vec<(String, Option<String>, i64)> {
    let id = MessageId::from(id);
    eventually("attempts", || {
        let (store, id) = (stack.app.deps.store.clone(), id.clone());
        async move {
            let list = store
                .run(move |c| messages::list_attempts(c, &id))
                .await
                .unwrap();
            let first = list.iter().map(|a| a.due_at).min()?;
            let mut out: Vec<_> = list
                .iter()
                .map(|a| {
                    (
                        a.channel.clone(),
                        a.endpoint.clone(),
                        (a.due_at - first).num_seconds(),
                    )
                })
                .collect();
            out.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
            Some(out)
        }
    })
    .await
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
    give_bob_a_phone(&stack).await;
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
    let sent: serde_json::Value = stack
        .http
        .get(format!("{}/api/v1/messages/sent", stack.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = sent["messages"].as_array().unwrap().len();
    stack
        .wait_emails(|e| e.iter().filter(|m| m.to == "bob@example.org").count() == n)
        .await;
    stack.stop().await;
}

async fn swapping_plugins_under_load_loses_no_message(mode: Mode) {
    let stack = Stack::start(mode).await;
    give_bob_a_phone(&stack).await;
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

macro_rules! both_modes {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(super::Mode::Embedded).await;
            })*
        }
        mod distributed {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(super::Mode::distributed()).await;
            })*
        }
    };
}

both_modes!(
    plugins_decide_deliveries,
    swapping_plugins_under_load_loses_no_message,
);
