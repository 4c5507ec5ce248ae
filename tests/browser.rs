//! The portal in real browsers (headless Chromium over WebDriver): Alice records a message
//! with her microphone (Chromium's fake device playing a 440 Hz tone) and sends it; Bob's
//! open dashboard shows it without a reload, he plays it, and Alice's dashboard turns the
//! receipt to "heard" live. Then Alice sends an MP3 by choosing the file. In another pair of
//! browsers Bob records his name and edits his delivery rules, which changes how his next
//! message is planned; its pop-up appears on the page he is on and he plays it there; and
//! Alice, an admin, uploads a plugin that changes routing, then disables Bob, whose open page
//! goes to the login form. Each main
//! page is saved as a screenshot in target/screenshots/.

mod support;

use hark::demo::DEMO_PASSWORD;
use serde_json::Value;
use std::{path::Path, time::Duration};
use support::{Mode, Stack, audio, browser::Browser, eventually, web::WebSession};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_send_and_hear_in_browsers() {
    let stack = Stack::start(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(440.0, 30.0, 48_000)).unwrap();
    let alice = Browser::start(&stack.base, Some(&mic)).await.unwrap();
    let bob = Browser::start(&stack.base, None).await.unwrap();

    bob.goto("/login").await.unwrap();
    bob.screenshot("login").await.unwrap();
    bob.login("102", DEMO_PASSWORD).await.unwrap();
    bob.wait_until(
        "Bob's socket",
        "return document.body.dataset.live === 'connected'",
    )
    .await
    .unwrap();

    alice.login("101", DEMO_PASSWORD).await.unwrap();
    alice.goto("/compose?to=102").await.unwrap();
    alice.wait_for("#recorder:not([hidden])").await.unwrap();
    alice.screenshot("compose").await.unwrap();
    alice.find("#record").await.unwrap().click().await.unwrap();
    alice
        .wait_until(
            "recording",
            "return document.body.dataset.state === 'recording'",
        )
        .await
        .unwrap();
    // While she talks the page counts the time and shows her microphone's level.
    alice
        .wait_until(
            "the timer and the level meter to move",
            "const t = document.querySelector('#recorder .rec-timer');
             const m = document.querySelector('#recorder meter.rec-level');
             return !t.hidden && !m.hidden && t.textContent === '0:01' && m.value > 0.1;",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // Alice talks for about two seconds.
    alice.find("#stop").await.unwrap().click().await.unwrap();
    alice
        .wait_until(
            "a recording to review",
            "return document.body.dataset.state === 'recorded'",
        )
        .await
        .unwrap();
    alice.screenshot("compose-recorded").await.unwrap();
    alice.find("#send").await.unwrap().click().await.unwrap();
    alice.wait_for("#contacts").await.unwrap();

    // What was stored is what the microphone heard.
    let (samples, rate) = stack.recording_between("101", "102").await;
    let tone = audio::tone_ms(&samples, rate, 440.0);
    assert!(
        (1500..=3000).contains(&tone),
        "the message holds {tone} ms of the tone"
    );

    // Bob's dashboard shows it without a reload; he plays it to the end.
    let row = bob.wait_for("#inbox li[data-message]").await.unwrap();
    let id = row.attr("data-message").await.unwrap().unwrap();
    bob.screenshot("dashboard-new-message").await.unwrap();
    alice
        .wait_until(
            "Alice's socket",
            "return document.body.dataset.live === 'connected'",
        )
        .await
        .unwrap();
    // One compact play button per row; its player opens on demand and plays.
    bob.eval(
        "const row = document.querySelector(`#inbox li[data-message='${arguments[0]}']`);
         row.querySelector('button.play').click();
         const a = row.querySelector('.player audio');
         a.addEventListener('ended', () => document.body.dataset.played = 'yes');
         return true;",
        vec![Value::String(id.clone())],
    )
    .await
    .unwrap();
    bob.wait_until(
        "the message to play to its end",
        "return document.body.dataset.played === 'yes'",
    )
    .await
    .unwrap();

    // Alice's open dashboard turns the receipt to "heard" by itself.
    alice
        .wait_for(&format!("#sent li[data-message='{id}'] .receipt.heard"))
        .await
        .unwrap();
    alice.screenshot("dashboard-heard").await.unwrap();

    // An MP3 chosen from disk.
    alice.goto("/compose?to=102").await.unwrap();
    let mp3 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tone440.mp3");
    alice
        .find("#audio")
        .await
        .unwrap()
        .send_keys(&mp3.display().to_string())
        .await
        .unwrap();
    alice.find("#send").await.unwrap().click().await.unwrap();
    alice.wait_for("#contacts").await.unwrap();
    bob.wait_until(
        "a second message",
        "return document.querySelectorAll('#inbox li[data-message]').length === 2",
    )
    .await
    .unwrap();

    alice.goto("/account").await.unwrap();
    alice.screenshot("account").await.unwrap();
    alice.stop().await;
    bob.stop().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_and_plugin_changes_in_browsers() {
    let stack = Stack::start(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(660.0, 30.0, 48_000)).unwrap();
    let bob = Browser::start(&stack.base, Some(&mic)).await.unwrap();
    let admin = Browser::start(&stack.base, None).await.unwrap();
    let alice = stack.login("101").await;

    // Bob's details: a phone to be called on.
    bob.login("102", DEMO_PASSWORD).await.unwrap();
    bob.goto("/profile").await.unwrap();
    // The timezone field suggests every zone Chromium knows, and for someone who never chose
    // one fills in the browser's own (saying so) if it is not UTC already.
    let zones = bob
        .eval(
            "return [document.querySelectorAll('#zones option').length, \
             Intl.DateTimeFormat().resolvedOptions().timeZone, \
             document.getElementById('timezone').value, \
             document.getElementById('timezone-hint').hidden]",
            vec![],
        )
        .await
        .unwrap();
    assert!(zones[0].as_u64().unwrap_or(0) > 300, "{zones}");
    assert_eq!(
        zones[2], zones[1],
        "starts from the browser's zone: {zones}"
    );
    assert_eq!(
        zones[3],
        zones[1] == "UTC",
        "the hint shows when it filled one in: {zones}"
    );
    let phone = bob.find("#phone").await.unwrap();
    phone.clear().await.unwrap();
    phone.send_keys("sip:bob@127.0.0.1:5099").await.unwrap();
    bob.find("#details-form button[type=submit]")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    bob.wait_for("#delivery-form").await.unwrap();

    // He records his name with the microphone.
    bob.wait_for("#recorder:not([hidden])").await.unwrap();
    bob.find("#record").await.unwrap().click().await.unwrap();
    bob.wait_until(
        "recording",
        "return document.body.dataset.state === 'recording'",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // Bob says his name.
    bob.find("#stop").await.unwrap().click().await.unwrap();
    bob.wait_until(
        "a recording",
        "return document.body.dataset.state === 'recorded'",
    )
    .await
    .unwrap();
    bob.find("#name-save").await.unwrap().click().await.unwrap();
    bob.wait_for("#name-audio").await.unwrap();
    let name = stack
        .app
        .deps
        .store
        .run(|c| hark_core::store::users::find_by_extension(c, "102"))
        .await
        .unwrap()
        .unwrap()
        .name_blob
        .expect("a stored name");
    let wav = stack.app.deps.blobs.get(&name).await.unwrap();
    let decoded = hark_core::audio::decode(&wav, 60).unwrap();
    let tone = audio::tone_ms(&decoded.samples, decoded.sample_rate, 660.0);
    assert!(
        (1000..=2500).contains(&tone),
        "his name holds {tone} ms of his voice"
    );

    // He wants pop-ups first and e-mail after five minutes: the next message is planned so.
    let first = bob.find("select[name=channel]").await.unwrap();
    first.select_by_value("popup").await.unwrap();
    let rows = bob
        .client
        .find_all(fantoccini::Locator::Css("#delivery-form tr.step"))
        .await
        .unwrap();
    rows[1]
        .find(fantoccini::Locator::Css("select[name=channel]"))
        .await
        .unwrap()
        .select_by_value("email")
        .await
        .unwrap();
    rows[1]
        .find(fantoccini::Locator::Css("input[name=delay]"))
        .await
        .unwrap()
        .send_keys("5")
        .await
        .unwrap();
    bob.screenshot("profile-editing").await.unwrap();
    bob.find("#save-delivery")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    bob.wait_for("#delivery-form").await.unwrap();
    bob.screenshot("profile").await.unwrap();
    bob.wait_until(
        "Bob's socket",
        "return document.body.dataset.live === 'connected'",
    )
    .await
    .unwrap();
    let id = stack
        .send(&alice, "102", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    assert_eq!(
        stack.attempts(&id).await,
        [("popup".into(), None, 0), ("email".into(), None, 300)]
    );

    // The pop-up shows on the page he is on; it counts as delivered, and he plays it there.
    bob.wait_for(&format!(".popup[data-message='{id}']"))
        .await
        .unwrap();
    bob.screenshot("popup").await.unwrap();
    stack.wait_receipt(&alice, &id, "102", "delivered").await;
    bob.eval(
        "const a = document.querySelector(`.popup[data-message='${arguments[0]}'] audio`);
         a.addEventListener('ended', () => document.body.dataset.played = 'yes');
         a.play(); return true;",
        vec![Value::String(id.clone())],
    )
    .await
    .unwrap();
    bob.wait_until(
        "the pop-up's message to play to its end",
        "return document.body.dataset.played === 'yes'",
    )
    .await
    .unwrap();
    stack.wait_receipt(&alice, &id, "102", "heard").await;

    // Alice, an admin, uploads a plugin: urgent messages now also call.
    admin.login("101", DEMO_PASSWORD).await.unwrap();
    admin.goto("/admin").await.unwrap();
    admin.screenshot("admin-people").await.unwrap();
    admin.goto("/admin/plugins").await.unwrap();
    admin
        .find("#wasm")
        .await
        .unwrap()
        .send_keys(hark_test_plugins::URGENT_ESCALATION)
        .await
        .unwrap();
    admin
        .find("#config")
        .await
        .unwrap()
        .send_keys(r#"{"repeat_secs": 120}"#)
        .await
        .unwrap();
    admin
        .find("#upload-plugin button[type=submit]")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    admin.wait_for("#report").await.unwrap();
    admin.screenshot("admin-plugins").await.unwrap();
    eventually("routing to follow the uploaded plugin", || async {
        let id = stack
            .send(
                &alice,
                "102&urgent=true",
                audio::sine_wav(440.0, 0.5, 16_000),
            )
            .await;
        let plan = stack.attempts(&id).await;
        plan.iter().any(|a| a.0 == "callback").then_some(())
    })
    .await;
    admin.goto("/admin/system").await.unwrap();
    admin.wait_for("#nodes").await.unwrap();
    admin.screenshot("admin-system").await.unwrap();

    // Alice disables Bob's account: his open page, told its session ended, goes to the
    // login form instead of reconnecting.
    let alice_web = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let (status, _) = alice_web
        .post("/admin/users/102/disabled", &[("disabled", "1")])
        .await
        .unwrap();
    assert_eq!(status, reqwest::StatusCode::SEE_OTHER);
    bob.wait_until(
        "Bob's page to go to the login form",
        "return location.pathname === '/login'",
    )
    .await
    .unwrap();

    bob.stop().await;
    admin.stop().await;
    stack.stop().await;
}

/// Live: Alice calls from a softphone (baresip) and speaks a 440 Hz tone to Bob, whose rules
/// say "live in the portal". Bob's open page plays it while she is still speaking; a second
/// listener joining two seconds in hears it from the first word (the kept fragments, then
/// the live ones); both end with the complete message, which matches what was stored; Alice
/// gets "heard".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hear_a_caller_live_in_the_browser() {
    use hark_core::store::messages;
    use support::{baresip::Baresip, web::WebSession};
    let stack = Stack::start(Mode::Embedded).await;
    stack
        .set_profile(
            "102",
            r#"[{"channel":"stream"},{"channel":"email","after_secs":600}]"#,
        )
        .await;
    let bob = Browser::start(&stack.base, None).await.unwrap();
    bob.login("102", DEMO_PASSWORD).await.unwrap();
    bob.wait_until(
        "Bob's socket",
        "return document.body.dataset.live === 'connected'",
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("alice.wav");
    std::fs::write(&mic, audio::sine_wav(440.0, 60.0, 8000)).unwrap();
    let wait = Duration::from_secs(30);
    let mut alice = Baresip::start("101", &mic, Duration::from_secs(60))
        .await
        .unwrap();
    alice
        .command("dial", &format!("sip:*102@{}", stack.ivr_addr()))
        .await
        .unwrap();
    alice.event("CALL_ESTABLISHED", wait).await.unwrap();
    for key in "1234#".chars() {
        alice.command("sndcode", &key.to_string()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    alice.wait_heard(1000.0, 200, wait).await.unwrap(); // the beep

    // Bob's page is playing while Alice still speaks.
    let row = bob.wait_for(".popup.live[data-message]").await.unwrap();
    let id = row.attr("data-message").await.unwrap().unwrap();
    bob.wait_until(
        "a second of live audio",
        "const l = window.harkLive && Object.values(window.harkLive)[0];
         return l && l.rate > 0 && l.pcm.length >= l.rate;",
    )
    .await
    .unwrap();
    let mid = hark_core::ids::MessageId::from(id.as_str());
    let m2 = mid.clone();
    let still = stack
        .app
        .deps
        .store
        .run(move |c| messages::find_by_id(c, &m2))
        .await
        .unwrap()
        .unwrap();
    assert!(
        still.state == "recording" && still.blob_key.is_none(),
        "heard live while Alice is still speaking"
    );
    bob.screenshot("live").await.unwrap();

    // A second listener (Bob on another device) joins two seconds in.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let other = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let mut late = other.live(&id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await; // Alice talks on.
    alice.command("sndcode", "#").await.unwrap();
    stack.held_for_review("101", "102").await;
    alice.command("sndcode", "1").await.unwrap(); // send

    let (frames, end) = late.until_text().await;
    assert_eq!(end["state"], "complete", "{end}");
    let first = hark_core::live::Fragment::decode(&frames[0]).unwrap();
    assert_eq!((first.seq, first.offset_ms), (0, 0), "from the first word");
    let late_pcm: Vec<f32> = frames
        .iter()
        .flat_map(|b| {
            let f = hark_core::live::Fragment::decode(b).unwrap();
            assert_eq!(f.rate, first.rate, "one rate throughout");
            f.pcm
        })
        .map(|s| f32::from(s) / 32768.0)
        .collect();

    bob.wait_until(
        "the live stream to end complete",
        "return document.body.dataset.stream === 'complete'",
    )
    .await
    .unwrap();
    let heard = bob
        .eval(
            "const l = window.harkLive[arguments[0]]; return {rate: l.rate, pcm: Array.from(l.pcm)};",
            vec![Value::String(id.clone())],
        )
        .await
        .unwrap();
    let rate = u32::try_from(heard["rate"].as_u64().unwrap()).unwrap();
    let page_pcm: Vec<f32> = heard["pcm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32 / 32768.0)
        .collect();

    // Both heard what was stored: same length (within 100 ms), the same tone.
    let (stored, stored_rate) = stack.recording_between("101", "102").await;
    let stored_ms = stored.len() as u64 * 1000 / u64::from(stored_rate);
    for (who, pcm, r) in [
        ("Bob's page", &page_pcm, rate),
        ("the late listener", &late_pcm, first.rate.into()),
    ] {
        let ms = pcm.len() as u64 * 1000 / u64::from(r);
        assert!(
            ms.abs_diff(stored_ms) <= 100,
            "{who} got {ms} ms, the stored message is {stored_ms} ms"
        );
        assert_eq!(
            audio::dominant(pcm, r, &[300.0, 440.0, 1000.0]),
            440.0,
            "{who}"
        );
        let tone = audio::tone_ms(pcm, r, 440.0);
        let stored_tone = audio::tone_ms(&stored, stored_rate, 440.0);
        assert!(
            tone.abs_diff(stored_tone) <= 200,
            "{who}: {tone} ms of the tone, stored {stored_tone} ms"
        );
    }
    let token = stack.login("101").await;
    stack.wait_receipt(&token, &id, "102", "heard").await;
    alice.command("hangup", "").await.unwrap();
    alice.stop().await;
    bob.stop().await;
    stack.stop().await;
}

/// The pages a person signed in as an admin can reach, by screenshot name and path.
const SIGNED_IN_PAGES: [(&str, &str); 9] = [
    ("dashboard", "/"),
    ("compose", "/compose"),
    ("profile", "/profile"),
    ("account", "/account"),
    ("trash", "/trash"),
    ("admin-people", "/admin"),
    ("admin-groups", "/admin/groups"),
    ("admin-plugins", "/admin/plugins"),
    ("admin-system", "/admin/system"),
];

/// A phone's screen and a desktop's.
const WIDTHS: [(u32, u32); 2] = [(390, 844), (1280, 900)];

/// Each page at both widths: no sideways scrolling, the whole top bar on screen, a
/// screenshot for a person to look at; at desktop width, axe-core finds nothing serious.
async fn check_page(b: &Browser, name: &str, path: &str, faults: &mut Vec<String>) {
    for (w, h) in WIDTHS {
        let inner = b.resize(w, h).await.unwrap();
        assert!(
            inner.abs_diff(u64::from(w)) <= 16,
            "the page is {inner} px wide for a {w} px window"
        );
        b.goto(path).await.unwrap();
        b.wait_for("main").await.unwrap();
        let (over, off) = b.layout_faults().await.unwrap();
        if over > 0 {
            faults.push(format!("{path} at {w} px: {over} px wider than the screen"));
        }
        if !off.is_empty() {
            faults.push(format!("{path} at {w} px: off screen: {off:?}"));
        }
        b.screenshot(&format!("{name}-{w}")).await.unwrap();
        if w == 1280 {
            for v in b.accessibility_faults().await.unwrap() {
                faults.push(format!("{path}: {v}"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_and_a_desktop_and_passes_an_accessibility_audit() {
    let stack = Stack::start(Mode::Embedded).await;
    // Something in every list: Bob and Alice have sent each other a message, and Bob's
    // e-mail link is there to open.
    let (alice, bob) = (stack.login("101").await, stack.login("102").await);
    let to_alice = stack
        .send(&bob, "101", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    stack
        .send(&alice, "102", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    let link = stack.listen_link("bob@example.org").await;
    let b = Browser::start(&stack.base, None).await.unwrap();
    let mut faults = Vec::new();
    check_page(&b, "login", "/login", &mut faults).await;
    let path = link
        .strip_prefix(&stack.base)
        .expect("the link is this portal's")
        .to_owned();
    check_page(&b, "listen", &path, &mut faults).await;
    b.resize(1280, 900).await.unwrap();
    b.login("101", DEMO_PASSWORD).await.unwrap();
    // One message in the trash for its page.
    b.goto("/").await.unwrap();
    b.find(&format!(
        "#inbox li[data-message='{to_alice}'] button[aria-label^='Delete']"
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    b.wait_for("#undo").await.unwrap();
    stack
        .send(&bob, "101", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    // A softphone with a SIP sign-in, for the profile's phone section; Bob's phone registered,
    // so Alice's contacts show him "on the phone".
    let alice_id = stack.user_id("101").await;
    let bob_id = stack.user_id("102").await;
    stack
        .app
        .deps
        .store
        .run(move |c| {
            use hark_core::store::{
                devices,
                registrations::{self, Change, Registration},
            };
            let bobs = devices::add(c, &bob_id, "sip", "sip:102@hark", None)?;
            let now = hark_core::store::now();
            registrations::apply(
                c,
                &bobs.id,
                "browser-test",
                1,
                vec![Change::Bind(Registration {
                    device_id: bobs.id.clone(),
                    contact: "sip:102@127.0.0.1:5099".into(),
                    user_id: bob_id.to_string(),
                    source: "udp:127.0.0.1:5099".into(),
                    path: None,
                    call_id: "browser-test".into(),
                    cseq: 1,
                    node_id: "browser-test".into(),
                    user_agent: None,
                    expires_at: now + chrono::Duration::hours(1),
                    updated_at: now,
                })],
                now,
            )?
            .expect("a first binding is in order");
            let d = devices::add(c, &alice_id, "sip", "sip:101@hark", None)?;
            devices::set_sip_credentials(
                c,
                &alice_id,
                &d.id,
                "101",
                "alices-phone-secret",
                "hark",
                false,
                true,
            )?;
            Ok(())
        })
        .await
        .unwrap();
    for (name, path) in SIGNED_IN_PAGES {
        check_page(&b, name, path, &mut faults).await;
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
    b.stop().await;
    stack.stop().await;
}

/// A message arriving while Bob watches raises an alert that covers nothing and counts in
/// the tab's title; two can be dismissed at once; the row's compact player plays at a chosen
/// speed and the count goes; a deleted message comes back with Undo, and reloading repeats
/// nothing. Pop-ups waiting at sign-in come as one notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_the_inbox_player_and_undo_in_the_browser() {
    let stack = Stack::start(Mode::Embedded).await;
    let alice = stack.login("101").await;
    let bob = Browser::start(&stack.base, None).await.unwrap();
    bob.login("102", DEMO_PASSWORD).await.unwrap();
    bob.wait_until(
        "Bob's socket",
        "return document.body.dataset.live === 'connected'",
    )
    .await
    .unwrap();
    assert_eq!(
        bob.eval("return document.title", vec![]).await.unwrap(),
        "Dashboard · Hark"
    );

    // The demo's rules send e-mail only; Bob's open tab alerts him all the same.
    let first = stack
        .send(&alice, "102", audio::sine_wav(440.0, 1.0, 16_000))
        .await;
    bob.wait_for(&format!(".popup[data-message='{first}']"))
        .await
        .unwrap();
    bob.wait_until(
        "the title's count",
        "return document.title === '(1) Dashboard · Hark'",
    )
    .await
    .unwrap();
    bob.wait_for(&format!("#inbox li.unheard[data-message='{first}']"))
        .await
        .unwrap();
    // The alert sits above the inbox and covers none of its controls.
    let covered = bob
        .eval(
            "const alerts = [...document.querySelectorAll('#popups .popup')]
               .map((p) => p.getBoundingClientRect());
             return [...document.querySelectorAll('#inbox button, #inbox a')]
               .filter((c) => {
                 const r = c.getBoundingClientRect();
                 return alerts.some((a) => r.left < a.right && a.left < r.right
                   && r.top < a.bottom && a.top < r.bottom);
               })
               .map((c) => c.getAttribute('aria-label') ?? c.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(covered, serde_json::json!([]), "covered by the alert");
    bob.screenshot("dashboard-alert").await.unwrap();

    let second = stack
        .send(&alice, "102", audio::sine_wav(660.0, 1.0, 16_000))
        .await;
    bob.wait_for(&format!(".popup[data-message='{second}']"))
        .await
        .unwrap();
    bob.wait_until(
        "the title's count",
        "return document.title === '(2) Dashboard · Hark'",
    )
    .await
    .unwrap();
    // Newest first.
    bob.wait_until(
        "the second message at the top",
        &format!("return document.querySelector('#inbox li[data-message]')?.dataset.message === '{second}'"),
    )
    .await
    .unwrap();
    bob.find("#popups .dismiss-all")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    bob.wait_until(
        "no alerts",
        "return document.querySelectorAll('#popups .popup').length === 0",
    )
    .await
    .unwrap();

    // The first message's play button opens its player; Bob listens at double speed.
    bob.eval(
        "const row = document.querySelector(`#inbox li[data-message='${arguments[0]}']`);
         const button = row.querySelector('button.play');
         if (!button.getAttribute('aria-label').includes('Alice Archer')) return false;
         button.click();
         const a = row.querySelector('.player audio');
         const speed = row.querySelector('.player select.speed');
         speed.value = '2';
         speed.dispatchEvent(new Event('change'));
         a.addEventListener('ended', () => document.body.dataset.played = String(a.playbackRate));
         return true;",
        vec![Value::String(first.clone())],
    )
    .await
    .unwrap();
    bob.wait_until(
        "the message to play to its end",
        "return document.body.dataset.played === '2'",
    )
    .await
    .unwrap();
    stack.wait_receipt(&alice, &first, "102", "heard").await;
    bob.wait_until(
        "the title's count to drop",
        "return document.title === '(1) Dashboard · Hark'",
    )
    .await
    .unwrap();

    // Delete it, then undo; a reload after either does nothing more.
    bob.find(&format!(
        "#inbox li[data-message='{first}'] button[aria-label^='Delete the message from Alice Archer']"
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let flash = bob.wait_for("#flash").await.unwrap().text().await.unwrap();
    assert!(flash.contains("moved to the trash"), "{flash}");
    let gone = bob
        .eval(
            &format!("return !document.querySelector(\"#inbox li[data-message='{first}']\")"),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(gone, Value::Bool(true), "deleted from the inbox");
    bob.screenshot("dashboard-deleted").await.unwrap();
    bob.find("#undo button")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    bob.wait_for(&format!("#inbox li[data-message='{first}']"))
        .await
        .unwrap();
    let flash = bob.wait_for("#flash").await.unwrap().text().await.unwrap();
    assert!(flash.contains("back in your inbox"), "{flash}");
    bob.client.refresh().await.unwrap();
    bob.wait_for(&format!("#inbox li[data-message='{first}']"))
        .await
        .unwrap();
    let after = bob
        .eval(
            "return [!!document.getElementById('flash'), \
             document.querySelectorAll('#inbox li[data-message]').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        after,
        serde_json::json!([false, 2]),
        "the reload repeated nothing"
    );

    // What cannot be undone asks first: Bob keeps Carol when he says no, loses her on yes.
    bob.goto("/profile").await.unwrap();
    let remove = "#contacts tr[data-contact='103'] button[data-confirm]";
    bob.find(remove).await.unwrap().click().await.unwrap();
    let asked = bob.client.get_alert_text().await.unwrap();
    assert!(asked.contains("Remove Carol Chen"), "{asked}");
    bob.client.dismiss_alert().await.unwrap();
    bob.find("#contacts tr[data-contact='103']").await.unwrap();
    bob.find(remove).await.unwrap().click().await.unwrap();
    bob.client.accept_alert().await.unwrap();
    bob.wait_for("#flash").await.unwrap();
    let kept = bob
        .eval(
            "return !!document.querySelector(\"#contacts tr[data-contact='103']\")",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, Value::Bool(false), "removed after yes");
    bob.stop().await;

    // Pop-ups waiting when Carol signs in come as one notice.
    stack.set_profile("103", r#"[{"channel": "popup"}]"#).await;
    let mut to_carol = Vec::new();
    for hz in [330.0, 440.0, 550.0] {
        to_carol.push(
            stack
                .send(&alice, "103", audio::sine_wav(hz, 1.0, 16_000))
                .await,
        );
    }
    for id in &to_carol {
        stack.wait_attempt_dispatched(id, "popup").await;
    }
    let carol = Browser::start(&stack.base, None).await.unwrap();
    carol.login("103", DEMO_PASSWORD).await.unwrap();
    let notice = carol
        .wait_for("#popups .popup.summary")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(notice.contains("3 new messages"), "{notice}");
    let alerts = carol
        .eval(
            "return document.querySelectorAll('#popups .popup').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(alerts, 1, "one notice, not a stack");
    carol
        .wait_until(
            "the title's count",
            "return document.title.startsWith('(3) ')",
        )
        .await
        .unwrap();
    carol.screenshot("dashboard-sign-in-notice").await.unwrap();
    // The notice counts as seeing each pop-up.
    for id in &to_carol {
        stack.wait_receipt(&alice, id, "103", "delivered").await;
    }
    carol.stop().await;
    stack.stop().await;
}
