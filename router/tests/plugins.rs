//! The plugin host against real components compiled from `plugins/`: the examples decide as
//! documented; hostile ones are refused at load or contained at run time, while other calls
//! keep flowing.

use hark_router::plugins::{
    Limits, LoadedPlugin, PlanInput, PlannedAttempt, PluginError, PluginHost, Verdict,
    breaker::TRIP_AFTER,
};
use hark_test_plugins as fixtures;
use std::{sync::Arc, time::Duration};

fn host() -> Arc<PluginHost> {
    Arc::new(PluginHost::new(Limits::default()).expect("engine"))
}

fn load(host: &PluginHost, path: &str, config: &str) -> Arc<LoadedPlugin> {
    Arc::new(
        host.load(&fixtures::bytes(path), config)
            .expect("plugin loads"),
    )
}

fn input() -> PlanInput {
    PlanInput {
        message_id: "m-1".into(),
        sender_extension: "101".into(),
        sender_name: "Alice Archer".into(),
        origin: "phone".into(),
        duration_ms: 8_000,
        urgent: false,
        recording: false,
        recipient_id: "u-102".into(),
        extension: "102".into(),
        timezone: "Europe/Paris".into(),
        presence: "available".into(),
        phone_registered: false,
        endpoints: vec![
            ("mail-1".into(), "email".into(), true),
            ("phone-1".into(), "callback".into(), true),
        ],
        profile: vec![("email".into(), 0), ("callback".into(), 600)],
        now_unix_ms: 1_767_225_600_000,
        local_minute_of_day: 10 * 60,
        local_weekday: 2,
    }
}

fn step(channel: &str, endpoint: Option<&str>, after: u32) -> PlannedAttempt {
    PlannedAttempt {
        channel: channel.into(),
        endpoint_id: endpoint.map(Into::into),
        start_after_secs: after,
        give_up_after_secs: None,
    }
}

fn plan(verdict: Verdict) -> Vec<PlannedAttempt> {
    match verdict {
        Verdict::Plan(p) => p,
        Verdict::Pass => panic!("expected a plan, got pass"),
    }
}

#[tokio::test]
async fn the_template_passes() {
    let host = host();
    let p = load(&host, fixtures::TEMPLATE, "");
    assert_eq!(p.info.name, "template");
    assert_eq!(p.sha256.len(), 64);
    let v = host.plan(p, Arc::new(input())).await.unwrap();
    assert_eq!(v, Verdict::Pass);
}

/// Plugins built against hark:delivery 1.0.0, before the recipient record grew
/// `phone-registered`, load and run unchanged beside 1.1.0 ones.
#[tokio::test]
async fn plugins_of_both_wit_versions_run() {
    let host = host();
    for (path, version) in [
        (fixtures::TEMPLATE, "1.1.0"),
        (fixtures::PRESENCE_FIRST, "1.1.0"),
        (fixtures::URGENT_ESCALATION, "1.0.0"),
        (fixtures::BUSINESS_HOURS, "1.0.0"),
    ] {
        let p = load(&host, path, "");
        assert_eq!(p.wit_version(), version, "{}", p.info.name);
        let told = PlanInput {
            phone_registered: true,
            ..input()
        };
        host.plan(p, Arc::new(told)).await.unwrap();
    }
}

#[tokio::test]
async fn presence_first_follows_presence() {
    let host = host();
    let p = load(
        &host,
        fixtures::PRESENCE_FIRST,
        r#"{"email_after_secs": 30}"#,
    );
    let online = host.plan(p.clone(), Arc::new(input())).await.unwrap();
    assert_eq!(
        plan(online),
        [
            step("popup", None, 0),
            step("email", None, 30),
            step("callback", Some("phone-1"), 300)
        ]
    );
    let recording = PlanInput {
        recording: true,
        ..input()
    };
    assert_eq!(
        plan(host.plan(p.clone(), Arc::new(recording)).await.unwrap())[0].channel,
        "stream"
    );
    let offline = PlanInput {
        presence: "offline".into(),
        endpoints: vec![("mail-1".into(), "email".into(), true)],
        ..input()
    };
    assert_eq!(
        plan(
            host.plan(p.clone(), Arc::new(offline.clone()))
                .await
                .unwrap()
        ),
        [step("email", None, 0)]
    );
    // hark:delivery 1.1 tells it a phone of theirs is registered: that phone rings at once.
    let on_the_phone = PlanInput {
        phone_registered: true,
        ..offline
    };
    assert_eq!(
        plan(host.plan(p, Arc::new(on_the_phone)).await.unwrap()),
        [step("callback", None, 0), step("email", None, 30)]
    );
    // A config it cannot read is refused at load.
    let bad = host.load(
        &fixtures::bytes(fixtures::PRESENCE_FIRST),
        r#"{"email_after": 1}"#,
    );
    assert!(matches!(bad, Err(PluginError::InvalidConfig(_))), "{bad:?}");
}

#[tokio::test]
async fn urgent_escalation_rings_until_answered() {
    let host = host();
    let p = load(
        &host,
        fixtures::URGENT_ESCALATION,
        r#"{"times": 2, "repeat_secs": 60}"#,
    );
    assert_eq!(
        host.plan(p.clone(), Arc::new(input())).await.unwrap(),
        Verdict::Pass
    );
    let urgent = PlanInput {
        urgent: true,
        ..input()
    };
    let steps = plan(host.plan(p, Arc::new(urgent)).await.unwrap());
    let calls: Vec<(u32, Option<u32>)> = steps
        .iter()
        .filter(|s| s.channel == "callback")
        .map(|s| (s.start_after_secs, s.give_up_after_secs))
        .collect();
    assert_eq!(calls, [(0, Some(45)), (60, Some(45))]);
    assert!(steps.iter().any(|s| s.channel == "email"));
}

#[tokio::test]
async fn business_hours_moves_callbacks_to_the_next_opening() {
    let host = host();
    let p = load(
        &host,
        fixtures::BUSINESS_HOURS,
        r#"{"start": "09:00", "end": "17:00"}"#,
    );
    // Tuesday 10:00: the profile's callback after 10 minutes is within hours.
    let open = plan(host.plan(p.clone(), Arc::new(input())).await.unwrap());
    assert_eq!(open, [step("email", None, 0), step("callback", None, 600)]);
    // Friday 18:00: the callback waits for Monday 09:00 (63 hours later).
    let friday_evening = PlanInput {
        local_weekday: 5,
        local_minute_of_day: 18 * 60,
        ..input()
    };
    let closed = plan(host.plan(p, Arc::new(friday_evening)).await.unwrap());
    assert_eq!(closed[1].channel, "callback");
    assert_eq!(closed[1].start_after_secs, 63 * 3600);
}

#[test]
fn hostile_modules_are_refused_at_load() {
    let host = PluginHost::new(Limits::default()).unwrap();
    let refused = |bytes: Vec<u8>, config: &str| host.load(&bytes, config).unwrap_err();

    let e = refused(fixtures::bytes(fixtures::SOCKETS), "");
    assert!(
        matches!(&e, PluginError::ForbiddenImport(i) if i.starts_with("wasi:sockets/")),
        "{e}"
    );
    let e = refused(fixtures::bytes(fixtures::WRONG_WORLD), "");
    assert!(matches!(e, PluginError::WrongWorld(_)), "{e}");
    let e = refused(vec![0x5a; 50 << 20], "");
    assert!(matches!(e, PluginError::TooLarge { .. }), "{e}");
    let noise: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
    let e = refused(noise, "");
    assert!(matches!(e, PluginError::NotAComponent { .. }), "{e}");
    assert!(
        e.to_string().starts_with("this is not a WebAssembly file"),
        "{e}"
    );
    // A core module is not a component, and the admin is told how to make one.
    let e = refused(b"\0asm\x01\0\0\0".to_vec(), "");
    assert!(matches!(e, PluginError::NotAComponent { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("core WebAssembly module, not a component"),
        "{e}"
    );
    assert!(e.to_string().contains("wasm32-wasip2"), "{e}");
    // Misbehaving during the dry run is caught before anything relies on the plugin.
    let e = refused(fixtures::bytes(fixtures::TRAP), "always");
    assert!(matches!(e, PluginError::Trap(_)), "{e}");
    let e = refused(fixtures::bytes(fixtures::SPIN), "always");
    assert!(
        matches!(e, PluginError::Timeout(_) | PluginError::OutOfFuel),
        "{e}"
    );
    let e = refused(fixtures::bytes(fixtures::LIAR), "always");
    assert!(matches!(e, PluginError::InvalidPlan(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_calls_are_contained_while_others_flow() {
    let host = host();
    let good = load(&host, fixtures::PRESENCE_FIRST, "");
    let spin = load(&host, fixtures::SPIN, "");
    let bomb = load(&host, fixtures::MEMBOMB, "");
    let trap = load(&host, fixtures::TRAP, "");

    // Start the hostile calls, and plan with the good plugin while they run.
    let hostile = [spin.clone(), bomb.clone(), trap.clone()].map(|p| {
        let host = host.clone();
        tokio::spawn(async move { host.plan(p, Arc::new(input())).await })
    });
    for _ in 0..20 {
        assert!(matches!(
            host.plan(good.clone(), Arc::new(input())).await,
            Ok(Verdict::Plan(_))
        ));
    }
    let [s, b, t] = hostile;
    let s = s.await.unwrap().unwrap_err();
    assert!(
        matches!(s, PluginError::Timeout(_) | PluginError::OutOfFuel),
        "{s}"
    );
    let b = b.await.unwrap().unwrap_err();
    assert!(matches!(b, PluginError::Trap(_)), "{b}");
    let t = t.await.unwrap().unwrap_err();
    assert!(matches!(t, PluginError::Trap(_)), "{t}");
    assert_eq!(good.stats.snapshot().failures, 0);
}

#[tokio::test]
async fn time_limits_stop_a_spinning_plugin() {
    // With fuel out of the way the wall-clock deadline must end the call.
    let host = Arc::new(
        PluginHost::new(Limits {
            fuel: u64::MAX / 2,
            deadline: Duration::from_millis(30),
            ..Limits::default()
        })
        .unwrap(),
    );
    let spin = load(&host, fixtures::SPIN, "");
    let started = std::time::Instant::now();
    let e = host.plan(spin, Arc::new(input())).await.unwrap_err();
    assert!(matches!(e, PluginError::Timeout(_)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn invalid_plans_are_refused() {
    let host = host();
    for (lie, why) in [
        ("channel", "unknown channel"),
        ("endpoint", "not the recipient's"),
        ("empty", "empty plan"),
    ] {
        let liar = load(&host, fixtures::LIAR, lie);
        let e = host.plan(liar, Arc::new(input())).await.unwrap_err();
        assert!(
            matches!(&e, PluginError::InvalidPlan(m) if m.contains(why)),
            "{lie}: {e}"
        );
    }
}

#[tokio::test]
async fn repeated_failures_bench_a_plugin() {
    let host = host();
    let trap = load(&host, fixtures::TRAP, "");
    for _ in 0..TRIP_AFTER {
        assert!(matches!(
            host.plan(trap.clone(), Arc::new(input())).await,
            Err(PluginError::Trap(_))
        ));
    }
    let e = host
        .plan(trap.clone(), Arc::new(input()))
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::Benched), "{e}");
    let s = trap.stats.snapshot();
    assert!(s.benched);
    assert_eq!(
        (s.calls, s.failures),
        (TRIP_AFTER as u64, TRIP_AFTER as u64)
    );
}

/// `bytes` with a custom section appended so the whole is exactly `total` bytes (still the
/// same component: custom sections carry no code).
fn padded_to(bytes: &[u8], total: usize) -> Vec<u8> {
    fn leb(mut n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }
    let need = total - bytes.len();
    let name = b"pad";
    for content in need.saturating_sub(16)..need {
        let body = 1 + name.len() + content;
        if 1 + leb(body).len() + body == need {
            let mut out = bytes.to_vec();
            out.push(0);
            out.extend(leb(body));
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            out.resize(total, 0);
            return out;
        }
    }
    panic!("cannot pad {} bytes to {total}", bytes.len());
}

#[tokio::test]
async fn each_limit_holds_at_its_value_and_fails_one_past_it() {
    // Module size: the template padded to exactly the limit loads and plans; a byte more is
    // refused.
    let template = fixtures::bytes(fixtures::TEMPLATE);
    let limit = template.len() + 4096;
    let sized = Arc::new(
        PluginHost::new(Limits {
            max_module_bytes: limit,
            ..Limits::default()
        })
        .unwrap(),
    );
    let at = sized
        .load(&padded_to(&template, limit), "")
        .expect("a module of exactly the limit loads");
    assert!(sized.plan(Arc::new(at), Arc::new(input())).await.is_ok());
    let e = sized
        .load(&padded_to(&template, limit + 1), "")
        .unwrap_err();
    assert!(
        matches!(e, PluginError::TooLarge { size, limit: l } if size == limit + 1 && l == limit),
        "{e}"
    );

    // Memory: growing linear memory to exactly the limit (16 MiB, 256 pages) works; one page
    // more traps.
    let host = host();
    let pages = Limits::default().memory_bytes / 65_536;
    let at = load(&host, fixtures::MEMBOMB, &format!("pages:{pages}"));
    let r = host.plan(at, Arc::new(input())).await;
    assert!(matches!(r, Ok(Verdict::Pass)), "{r:?}");
    let past = load(&host, fixtures::MEMBOMB, &format!("pages:{}", pages + 1));
    let e = host.plan(past, Arc::new(input())).await.unwrap_err();
    assert!(matches!(e, PluginError::Trap(_)), "{e}");

    // Fuel: a fixed amount of work runs with exactly the fuel it takes (found by bisection)
    // and runs out with one unit less.
    let with_fuel = |fuel: u64| {
        let host = Arc::new(
            PluginHost::new(Limits {
                fuel,
                deadline: Duration::from_secs(10),
                ..Limits::default()
            })
            .unwrap(),
        );
        async move {
            // The load-time dry run passes at once, so it needs far less than the call.
            let spin = host.load(&fixtures::bytes(fixtures::SPIN), "loops:20000")?;
            host.plan(Arc::new(spin), Arc::new(input())).await
        }
    };
    let (mut low, mut high) = (0u64, 10_000_000u64);
    assert!(
        with_fuel(high).await.is_ok(),
        "20,000 loops fit in 10M fuel"
    );
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if with_fuel(mid).await.is_ok() {
            high = mid;
        } else {
            low = mid;
        }
    }
    assert!(matches!(with_fuel(high).await, Ok(Verdict::Pass)));
    let e = with_fuel(high - 1).await.unwrap_err();
    assert!(matches!(e, PluginError::OutOfFuel), "{high}: {e}");
    assert!(high > 20_000, "the loop's work was counted: {high}");
}
