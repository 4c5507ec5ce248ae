//! Phones that register: a real softphone (baresip) registers with its SIP password, is
//! refused with a wrong one and unregisters; and the registrar's answers driven by hand over
//! UDP — the same challenge for people who exist and who do not, SHA-256 and MD5, a replayed
//! REGISTER asked again, expiry bounds (423 with Min-Expires), nobody registering for
//! someone else, `Contact: *` removing every binding, `Path` kept and echoed.

mod support;

use hark::demo::DEMO_PASSWORD;
use hark_core::{
    digest::{self, Algorithm, Qop},
    ids::UserId,
    store::{self, devices, registrations},
};
use std::{net::SocketAddr, time::Duration};
use support::{
    Mode, Stack, audio, baresip::Baresip, both_modes, eventually, sip_inbox::Inbox, web::WebSession,
};

const PASSWORD: &str = "bobs-phone-secret";
const REALM: &str = "hark";

/// Bob gets a SIP phone device with credentials `102` / [`PASSWORD`].
async fn give_bob_a_phone(stack: &Stack) -> (UserId, String) {
    let bob = stack.user_id("102").await;
    let b = bob.clone();
    let device = stack
        .app
        .deps
        .store
        .run(move |c| {
            let d = devices::add(c, &b, "sip", "sip:102@hark", None)?;
            assert!(devices::set_sip_credentials(
                c, &b, &d.id, "102", PASSWORD, REALM, false, false
            )?);
            Ok(d.id)
        })
        .await
        .unwrap();
    (bob, device)
}

async fn bindings(stack: &Stack, device: &str) -> Vec<registrations::Registration> {
    let device = device.to_owned();
    stack
        .app
        .deps
        .store
        .run(move |c| registrations::of_device(c, &device, store::now()))
        .await
        .unwrap()
}

/// Bob adds his softphone on the profile page and gives it a password; baresip registers
/// with it, the page says from where, a wrong password is refused, and quitting unregisters.
async fn softphone_registers_and_a_wrong_password_is_refused(mode: Mode) {
    let stack = Stack::start(mode).await;
    let web = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let (added, _) = web
        .submit(
            "/profile",
            "device-form",
            &[("kind", "sip"), ("address", "sip:102@hark")],
        )
        .await
        .unwrap();
    assert!(added.page.contains("Device added."), "{}", added.page);
    let bob = stack.user_id("102").await;
    let device = stack
        .app
        .deps
        .store
        .run(move |c| devices::list_for_user(c, &bob))
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.kind == "sip")
        .unwrap()
        .id;
    let form = format!("sip-form-{device}");
    let (short, _) = web
        .submit(
            "/profile",
            &form,
            &[("username", "102"), ("password", "short")],
        )
        .await
        .unwrap();
    assert!(
        short.page.contains("at least 8 characters"),
        "{}",
        short.page
    );
    let (saved, _) = web
        .submit(
            "/profile",
            &form,
            &[("username", "102"), ("password", PASSWORD)],
        )
        .await
        .unwrap();
    assert!(
        saved
            .page
            .contains("Phone sign-in saved: register the phone as 102"),
        "{}",
        saved.page
    );
    assert!(saved.page.contains("Not registered."), "{}", saved.page);
    let stored = stack
        .app
        .deps
        .store
        .run(|c| devices::find_sip_account(c, "102"))
        .await
        .unwrap()
        .unwrap();
    let hashes = format!("{stored:?}");
    assert!(!hashes.contains(PASSWORD), "only hashes are stored");
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(440.0, 60.0, 8000)).unwrap();
    let limit = Duration::from_secs(60);

    let phone = Baresip::registered("102", PASSWORD, stack.ivr_addr(), &mic, limit)
        .await
        .unwrap();
    phone
        .wait_log("200 OK () [1 binding]", Duration::from_secs(20))
        .await
        .unwrap();
    let found = bindings(&stack, &device).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].source, format!("udp:{}", phone.sip), "{found:?}");
    assert!(found[0].contact.contains(&phone.sip.port().to_string()));
    let left = (found[0].expires_at - store::now()).num_seconds();
    assert!((50..=60).contains(&left), "regint 60: {left} s left");
    let (_, page) = web.get("/profile").await.unwrap();
    assert!(
        page.contains(&format!("Registered from {}", phone.sip)),
        "{page}"
    );

    let thief = Baresip::registered("102", "a-wrong-guess", stack.ivr_addr(), &mic, limit)
        .await
        .unwrap();
    thief
        .wait_log("403 Wrong credentials", Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        bindings(&stack, &device).await.len(),
        1,
        "the guess bound nothing"
    );
    thief.stop().await;

    // Quitting, baresip unregisters (`expires=0`): the binding goes.
    phone.stop().await;
    eventually("the binding removed", || async {
        bindings(&stack, &device).await.is_empty().then_some(())
    })
    .await;
    stack.stop().await;
}

/// A REGISTER by hand.
struct Register<'a> {
    aor: &'a str,
    call_id: &'a str,
    cseq: u32,
    contact: String,
    extra: String,
}

impl Register<'_> {
    fn text(&self, local: SocketAddr, authorization: Option<&str>) -> String {
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};rport;branch=z9hG4bK-{}-{}\r\n\
             From: <sip:{aor}@127.0.0.1>;tag=f-{}\r\n\
             To: <sip:{aor}@127.0.0.1>\r\n\
             Call-ID: {}\r\n\
             CSeq: {} REGISTER\r\n\
             Contact: {}\r\n\
             Max-Forwards: 70\r\n\
             {auth}{}Content-Length: 0\r\n\r\n",
            self.call_id,
            self.cseq,
            self.call_id,
            self.call_id,
            self.cseq,
            self.contact,
            self.extra,
            aor = self.aor,
        )
    }
}

/// The final response to `call_id`'s request `cseq`.
async fn answer(inbox: &mut Inbox, call_id: &str, cseq: u32) -> String {
    let (id, seq) = (
        format!("Call-ID: {call_id}\r\n"),
        format!("CSeq: {cseq} REGISTER\r\n"),
    );
    let found = inbox
        .wait_for(|seen| {
            seen.iter()
                .find(|r| r.contains(&id) && r.contains(&seq) && !r.starts_with("SIP/2.0 1"))
                .cloned()
        })
        .await;
    found.unwrap_or_else(|| panic!("no answer to {call_id} {cseq}"))
}

fn header_values<'a>(response: &'a str, name: &str) -> Vec<&'a str> {
    response
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

/// The nonce of a challenge's first `WWW-Authenticate`.
fn nonce(challenge: &str) -> String {
    let v = header_values(challenge, "WWW-Authenticate")[0];
    let start = v.find("nonce=\"").expect("a nonce") + 7;
    v[start..][..v[start..].find('"').unwrap()].to_owned()
}

fn authorization(algorithm: Algorithm, user: &str, password: &str, nonce: &str, nc: u32) -> String {
    authorization_for("REGISTER", algorithm, user, password, nonce, nc)
}

fn authorization_for(
    method: &str,
    algorithm: Algorithm,
    user: &str,
    password: &str,
    nonce: &str,
    nc: u32,
) -> String {
    let uri = "sip:127.0.0.1";
    let ha1 = digest::ha1(algorithm, user, REALM, password);
    let cnonce = "c0ffee";
    let response = digest::response(
        algorithm,
        &ha1,
        nonce,
        method,
        uri,
        Some(Qop { nc, cnonce }),
    );
    format!(
        r#"Digest username="{user}", realm="{REALM}", nonce="{nonce}", uri="{uri}", response="{response}", algorithm={}, cnonce="{cnonce}", qop=auth, nc={nc:08x}"#,
        algorithm.name()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registrars_answers() {
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.ivr.sip_digest_algorithms = vec!["SHA-256".into(), "MD5".into()];
    })
    .await;
    let (_, device) = give_bob_a_phone(&stack).await;
    let ivr = stack.ivr_addr();
    let mut inbox = Inbox::bind().await;
    let local = inbox.local();
    let contact = format!("<sip:102@{local}>");
    let mut reg = Register {
        aor: "102",
        call_id: "reg-a",
        cseq: 1,
        contact: contact.clone(),
        extra: String::new(),
    };

    // No credentials: a challenge offering SHA-256 then MD5 (as configured here; MD5 alone by
    // default), the same whether the person exists or not.
    inbox.send(ivr, reg.text(local, None)).await;
    let challenge = answer(&mut inbox, "reg-a", 1).await;
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let offered = header_values(&challenge, "WWW-Authenticate");
    assert_eq!(offered.len(), 2, "{challenge}");
    assert!(offered[0].contains("algorithm=SHA-256") && offered[1].contains("algorithm=MD5"));
    assert!(
        offered
            .iter()
            .all(|o| o.contains(r#"realm="hark""#) && o.contains("qop=\"auth\""))
    );
    let nobody = Register {
        aor: "999",
        call_id: "reg-nobody",
        cseq: 1,
        contact: format!("<sip:999@{local}>"),
        extra: String::new(),
    };
    inbox.send(ivr, nobody.text(local, None)).await;
    let other = answer(&mut inbox, "reg-nobody", 1).await;
    let shape = |r: &str| {
        let n = nonce(r);
        header_values(r, "WWW-Authenticate")
            .iter()
            .map(|v| v.replace(&n, "N"))
            .collect::<Vec<_>>()
    };
    assert!(other.starts_with("SIP/2.0 401"), "{other}");
    assert_eq!(shape(&other), shape(&challenge), "nothing tells who exists");

    // SHA-256 with the right password: bound for the longest time allowed.
    let n = nonce(&challenge);
    reg.cseq = 2;
    let auth = authorization(Algorithm::Sha256, "102", PASSWORD, &n, 1);
    inbox.send(ivr, reg.text(local, Some(&auth))).await;
    let ok = answer(&mut inbox, "reg-a", 2).await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let listed = header_values(&ok, "Contact");
    assert_eq!(listed.len(), 1, "{ok}");
    assert!(
        listed[0].contains(&local.to_string()) && listed[0].ends_with("expires=3600"),
        "{ok}"
    );
    assert_eq!(bindings(&stack, &device).await.len(), 1);

    // The same request again, captured and replayed (same nonce, same count, a later CSeq
    // as an attacker would send): asked again.
    reg.cseq = 3;
    inbox.send(ivr, reg.text(local, Some(&auth))).await;
    let replayed = answer(&mut inbox, "reg-a", 3).await;
    assert!(replayed.starts_with("SIP/2.0 401"), "{replayed}");
    // The next count on the same nonce, with MD5: fine.
    reg.cseq = 4;
    reg.contact = format!("{contact};expires=7200");
    let auth = authorization(Algorithm::Md5, "102", PASSWORD, &n, 2);
    inbox.send(ivr, reg.text(local, Some(&auth))).await;
    let ok = answer(&mut inbox, "reg-a", 4).await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert!(
        header_values(&ok, "Contact")[0].ends_with("expires=3600"),
        "longest is 3600: {ok}"
    );

    // Too short: 423 with the shortest allowed.
    reg.cseq = 5;
    reg.contact = format!("{contact};expires=30");
    let auth = authorization(Algorithm::Md5, "102", PASSWORD, &n, 3);
    inbox.send(ivr, reg.text(local, Some(&auth))).await;
    let brief = answer(&mut inbox, "reg-a", 5).await;
    assert!(brief.starts_with("SIP/2.0 423"), "{brief}");
    assert_eq!(header_values(&brief, "Min-Expires"), ["60"], "{brief}");

    // A wrong password, for Bob and for nobody: the same 403.
    reg.cseq = 6;
    reg.contact = contact.clone();
    let auth = authorization(Algorithm::Md5, "102", "a guess", &n, 4);
    inbox.send(ivr, reg.text(local, Some(&auth))).await;
    let wrong = answer(&mut inbox, "reg-a", 6).await;
    let nobody = Register { cseq: 2, ..nobody };
    let auth = authorization(Algorithm::Md5, "999", "a guess", &nonce(&other), 1);
    inbox.send(ivr, nobody.text(local, Some(&auth))).await;
    let unknown = answer(&mut inbox, "reg-nobody", 2).await;
    assert!(wrong.starts_with("SIP/2.0 403"), "{wrong}");
    assert_eq!(
        wrong.lines().next(),
        unknown.lines().next(),
        "the same refusal"
    );

    // Bob's credentials for Carol's address: refused.
    let carol = Register {
        aor: "103",
        call_id: "reg-c",
        cseq: 1,
        contact: format!("<sip:103@{local}>"),
        extra: String::new(),
    };
    let auth = authorization(Algorithm::Md5, "102", PASSWORD, &n, 5);
    inbox.send(ivr, carol.text(local, Some(&auth))).await;
    let theirs = answer(&mut inbox, "reg-c", 1).await;
    assert!(theirs.starts_with("SIP/2.0 403"), "{theirs}");

    // A nonce nobody issued: a fresh challenge, not "stale".
    reg.cseq = 7;
    let forged = "00".repeat(32);
    let auth = authorization(Algorithm::Md5, "102", PASSWORD, &forged, 1);
    inbox.send(ivr, reg.text(local, Some(&auth))).await;
    let asked = answer(&mut inbox, "reg-a", 7).await;
    assert!(
        asked.starts_with("SIP/2.0 401") && !asked.contains("stale"),
        "{asked}"
    );

    // Through a proxy: its Path is kept and echoed; a second contact joins the first.
    reg.cseq = 8;
    reg.contact = "<sip:102@10.0.0.9:5060>".into();
    reg.extra = "Path: <sip:proxy.example;lr>\r\nSupported: path\r\n".into();
    let auth = authorization(Algorithm::Md5, "102", PASSWORD, &n, 6);
    inbox.send(ivr, reg.text(local, Some(&auth))).await;
    let ok = answer(&mut inbox, "reg-a", 8).await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert_eq!(header_values(&ok, "Contact").len(), 2, "{ok}");
    assert_eq!(
        header_values(&ok, "Path"),
        ["<sip:proxy.example;lr>"],
        "{ok}"
    );
    let found = bindings(&stack, &device).await;
    let proxied = found
        .iter()
        .find(|b| b.contact.contains("10.0.0.9"))
        .unwrap();
    assert_eq!(proxied.path.as_deref(), Some("<sip:proxy.example;lr>"));
    assert_eq!(proxied.source, format!("udp:{local}"), "where it came from");

    // An old request arriving late (same Call-ID, lower CSeq): 500, nothing changed.
    reg.cseq = 4;
    reg.extra = String::new();
    reg.contact = format!("{contact};expires=0");
    let auth = authorization(Algorithm::Md5, "102", PASSWORD, &n, 7);
    let mut late = reg.text(local, Some(&auth));
    late = late.replace("branch=z9hG4bK-reg-a-4", "branch=z9hG4bK-reg-a-4late");
    inbox.send(ivr, late).await;
    let refused = inbox
        .wait_for(|seen| {
            seen.iter()
                .find(|r| r.starts_with("SIP/2.0 500") && r.contains("CSeq: 4 REGISTER"))
                .cloned()
        })
        .await;
    assert!(refused.is_some(), "{:?}", inbox.seen.last());
    assert_eq!(bindings(&stack, &device).await.len(), 2);

    // Contact: * with Expires: 0 removes them all.
    reg.cseq = 9;
    reg.contact = "*".into();
    reg.extra = "Expires: 0\r\n".into();
    let auth = authorization(Algorithm::Md5, "102", PASSWORD, &n, 8);
    inbox.send(ivr, reg.text(local, Some(&auth))).await;
    let gone = answer(&mut inbox, "reg-a", 9).await;
    assert!(gone.starts_with("SIP/2.0 200"), "{gone}");
    assert!(header_values(&gone, "Contact").is_empty(), "{gone}");
    assert!(bindings(&stack, &device).await.is_empty());

    // A malformed Authorization: 400.
    reg.cseq = 10;
    reg.contact = contact.clone();
    reg.extra = String::new();
    inbox
        .send(ivr, reg.text(local, Some("Digest username=")))
        .await;
    let bad = answer(&mut inbox, "reg-a", 10).await;
    assert!(bad.starts_with("SIP/2.0 400"), "{bad}");
    stack.stop().await;
}

/// Run sipvicious's svcrack against `ivr` for username 102 with `words`; its output.
async fn svcrack(ivr: SocketAddr, words: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("words.txt");
    std::fs::write(&list, words.join("\n") + "\n").unwrap();
    let run = tokio::process::Command::new("svcrack")
        .args(["-u", "102", "-d"])
        .arg(&list)
        .args(["-p", &ivr.port().to_string(), "--maximumtime=10"])
        .arg(ivr.ip().to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("svcrack finished within two minutes")
        .expect("svcrack runs (scripts/test.sh installs sipvicious)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// sipvicious's svcrack, the password cracker people point at SIP servers, against Bob's
/// phone with a word list that ends in the right password. With the lockout out of reach it
/// finds the password (so the tool works against Hark); with the defaults its address is
/// locked out after five wrong ones and it finds nothing — while Bob's phone, registering
/// from another address, still gets in, and the locked address is refused even the right
/// password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svcrack_is_locked_out() {
    let mut words: Vec<String> = (1..=15).map(|i| format!("guess-{i:02}")).collect();
    words.push(PASSWORD.to_owned());
    let words: Vec<&str> = words.iter().map(String::as_str).collect();

    let open = Stack::start_with(Mode::Embedded, |c| c.ivr.register_attempts = 1_000).await;
    give_bob_a_phone(&open).await;
    let found = svcrack(open.ivr_addr(), &words).await;
    assert!(
        found.contains(PASSWORD),
        "svcrack cracks an unguarded phone:\n{found}"
    );
    open.stop().await;

    let stack = Stack::start(Mode::Embedded).await;
    let (_, device) = give_bob_a_phone(&stack).await;
    let cracked = svcrack(stack.ivr_addr(), &words).await;
    assert!(!cracked.contains(PASSWORD), "svcrack found it:\n{cracked}");

    let ivr = stack.ivr_addr();
    for (from, code) in [("127.0.0.2", "SIP/2.0 200"), ("127.0.0.1", "SIP/2.0 403")] {
        let mut inbox = Inbox {
            sock: tokio::net::UdpSocket::bind((from, 0)).await.unwrap(),
            seen: Vec::new(),
        };
        let local = inbox.local();
        let call_id = format!("after-{from}");
        let mut reg = Register {
            aor: "102",
            call_id: &call_id,
            cseq: 1,
            contact: format!("<sip:102@{local}>"),
            extra: String::new(),
        };
        inbox.send(ivr, reg.text(local, None)).await;
        let first = answer(&mut inbox, &call_id, 1).await;
        if code.ends_with("403") {
            assert!(first.starts_with(code), "locked out at once: {first}");
            continue;
        }
        reg.cseq = 2;
        let auth = authorization(Algorithm::Md5, "102", PASSWORD, &nonce(&first), 1);
        inbox.send(ivr, reg.text(local, Some(&auth))).await;
        let ok = answer(&mut inbox, &call_id, 2).await;
        assert!(ok.starts_with(code), "from {from}: {ok}");
    }
    assert_eq!(bindings(&stack, &device).await.len(), 1);
    stack.stop().await;
}

/// Bob has two phones registered, a desk phone nobody picks up and a softphone that answers by
/// itself. A callback rings both at once: the softphone answers and hears the message, the
/// desk phone stops ringing at once (its INVITE cancelled, with `Reason: SIP;cause=200`, which
/// phones show as answered elsewhere rather than missed), and Alice's receipt says heard.
async fn every_registered_phone_rings_and_the_first_to_answer_gets_it(mode: Mode) {
    let stack = Stack::start(mode).await;
    let (bob, _) = give_bob_a_phone(&stack).await;
    stack
        .app
        .deps
        .store
        .run(move |c| {
            let d = devices::add(c, &bob, "sip", "sip:bob-desk@hark", None)?;
            devices::set_sip_credentials(c, &bob, &d.id, "bob-desk", PASSWORD, REALM, false, false)
        })
        .await
        .unwrap();
    stack
        .set_profile("102", r#"[{"channel": "callback"}]"#)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(0.0, 60.0, 8000)).unwrap();
    let limit = Duration::from_secs(90);
    let wait = Duration::from_secs(30);
    let mut soft = Baresip::registered("102", PASSWORD, stack.ivr_addr(), &mic, limit)
        .await
        .unwrap();
    let mut desk = Baresip::registered_with(
        "bob-desk",
        PASSWORD,
        stack.ivr_addr(),
        &mic,
        limit,
        false,
        false,
    )
    .await
    .unwrap();
    for phone in [&soft, &desk] {
        if let Err(e) = phone.wait_log("200 OK () [1 binding]", wait).await {
            panic!("{e}\n{}", phone.user);
        }
    }

    let token = stack.login("101").await;
    let id = stack
        .send(&token, "102", audio::sine_wav(440.0, 2.0, 8000))
        .await;
    soft.event("CALL_ESTABLISHED", wait).await.unwrap();
    desk.event("CALL_INCOMING", wait).await.unwrap();
    // Long before the ring time-out (20 s), while the softphone is still on the call.
    let closed = desk
        .event("CALL_CLOSED", Duration::from_secs(5))
        .await
        .unwrap();
    // baresip 1.0.0 reports a CANCELled incoming call so (it does not show the Reason).
    assert_eq!(
        closed["param"],
        "Connection reset by peer",
        "the desk phone's ringing was cancelled: {closed}\n{}",
        desk.log()
    );
    stack.wait_receipt(&token, &id, "102", "heard").await;
    soft.command("hangup", "").await.unwrap();
    soft.event("CALL_CLOSED", Duration::from_secs(10))
        .await
        .unwrap();
    let heard = eventually("the softphone to save what it heard", || async {
        soft.heard().into_iter().next()
    })
    .await;
    let decoded = hark_core::audio::decode(&std::fs::read(&heard).unwrap(), 600).unwrap();
    let tone = audio::tone_ms(&decoded.samples, decoded.sample_rate, 440.0);
    assert!(
        tone.abs_diff(2000) <= 150,
        "the softphone heard {tone} ms of the 2000 ms message"
    );
    assert!(desk.heard().is_empty(), "the desk phone was never answered");
    soft.stop().await;
    desk.stop().await;
    stack.stop().await;
}

/// Bob calls Hark from his registered phone, signed in as `bob-phone` (not his extension, so
/// the caller id alone would not tell who he is). Hark challenges the INVITE, the phone
/// answers with its password, and Bob is asked only for his PIN; once the phone is marked
/// trusted, not even that. Each time he records his name (5), which is what shows Hark took
/// him for Bob: keys meant for the PIN or the menu would not have made an extension.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_phone_needs_no_extension() {
    use diesel::prelude::*;
    use hark_core::store::schema::{devices as devices_table, users};
    let stack = Stack::start(Mode::Embedded).await;
    let bob = stack.user_id("102").await;
    let b = bob.clone();
    let device = stack
        .app
        .deps
        .store
        .run(move |c| {
            let d = devices::add(c, &b, "sip", "sip:bob-phone@hark", None)?;
            devices::set_sip_credentials(c, &b, &d.id, "bob-phone", PASSWORD, REALM, false, false)?;
            Ok(d.id)
        })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(440.0, 120.0, 8000)).unwrap();
    let wait = Duration::from_secs(30);
    let mut phone = Baresip::registered(
        "bob-phone",
        PASSWORD,
        stack.ivr_addr(),
        &mic,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    phone.wait_log("200 OK () [1 binding]", wait).await.unwrap();

    for (keys, trusted) in [("1234#5", false), ("5", true)] {
        let (b, d) = (bob.clone(), device.clone());
        stack
            .app
            .deps
            .store
            .run(move |c| {
                diesel::update(users::table.find(b.as_str()))
                    .set(users::name_blob.eq(None::<String>))
                    .execute(c)?;
                diesel::update(devices_table::table.find(d))
                    .set(devices_table::trusted.eq(trusted))
                    .execute(c)?;
                Ok(())
            })
            .await
            .unwrap();
        phone
            .command("dial", &format!("sip:hark@{}", stack.ivr_addr()))
            .await
            .unwrap();
        phone.event("CALL_ESTABLISHED", wait).await.unwrap();
        for key in keys.chars() {
            phone.command("sndcode", &key.to_string()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await; // a person's key presses
        }
        phone.wait_heard(1000.0, 200, wait).await.unwrap(); // the beep
        tokio::time::sleep(Duration::from_secs(2)).await; // Bob says his name.
        phone.command("sndcode", "#").await.unwrap();
        let b = bob.clone();
        eventually("Bob's recorded name", || {
            let (store, b) = (stack.app.deps.store.clone(), b.clone());
            async move {
                store
                    .run(move |c| hark_core::store::users::find_by_id(c, &b))
                    .await
                    .unwrap()
                    .and_then(|u| u.name_blob)
            }
        })
        .await;
        phone.command("hangup", "").await.unwrap();
        phone.event("CALL_CLOSED", wait).await.unwrap();
    }
    phone.stop().await;
    stack.stop().await;
}

/// The last message-waiting block baresip printed, once it holds `voice` (`Voice-Message:
/// 1/0 (0/0)`).
async fn lamp_shows(phone: &Baresip, voice: &str) {
    phone
        .wait_log(&format!("Voice-Message: {voice}"), Duration::from_secs(20))
        .await
        .unwrap();
}

/// Bob's softphone subscribes to his mailbox (baresip's `mwi` module): its lamp comes on when
/// Alice's message arrives, counts it as old once Bob has heard it in the portal, goes dark
/// when he deletes it, comes on for the next message, and shows it again after the phone
/// starts anew and registers.
async fn the_lamp_follows_the_mailbox(mode: Mode) {
    let stack = Stack::start(mode).await;
    give_bob_a_phone(&stack).await;
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(0.0, 60.0, 8000)).unwrap();
    let limit = Duration::from_secs(90);
    let phone =
        Baresip::registered_with("102", PASSWORD, stack.ivr_addr(), &mic, limit, true, true)
            .await
            .unwrap();
    phone
        .wait_log("200 OK () [1 binding]", Duration::from_secs(20))
        .await
        .unwrap();
    lamp_shows(&phone, "0/0 (0/0)").await;
    assert!(
        phone.log().contains("Messages-Waiting: no"),
        "{}",
        phone.log()
    );

    let alice = stack.login("101").await;
    let first = stack
        .send(&alice, "102", audio::sine_wav(440.0, 1.0, 8000))
        .await;
    lamp_shows(&phone, "1/0 (0/0)").await;
    assert!(
        phone.log().contains("Messages-Waiting: yes"),
        "{}",
        phone.log()
    );

    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let (status, _) = bob
        .get_bytes(&format!("/messages/{first}/audio"))
        .await
        .unwrap();
    assert!(status.is_success());
    lamp_shows(&phone, "0/1 (0/0)").await;
    let (status, _) = bob
        .post(&format!("/messages/{first}/delete"), &[])
        .await
        .unwrap();
    assert!(status.is_success() || status.is_redirection(), "{status}");
    // 0/0 was shown before: wait for the block after the 0/1 one.
    eventually("the lamp to go dark after the delete", || async {
        let log = phone.log();
        let after = &log[log.rfind("Voice-Message: 0/1 (0/0)")?..];
        after.contains("Voice-Message: 0/0 (0/0)").then_some(())
    })
    .await;

    stack
        .send(&alice, "102", audio::sine_wav(440.0, 1.0, 8000))
        .await;
    lamp_shows(&phone, "1/0 (0/0)").await;
    phone.stop().await;

    // The phone restarts: registering again, it is shown the waiting message at once.
    let again =
        Baresip::registered_with("102", PASSWORD, stack.ivr_addr(), &mic, limit, true, true)
            .await
            .unwrap();
    again
        .wait_log("200 OK () [1 binding]", Duration::from_secs(20))
        .await
        .unwrap();
    lamp_shows(&again, "1/0 (0/0)").await;
    again.stop().await;
    stack.stop().await;
}

both_modes!(
    softphone_registers_and_a_wrong_password_is_refused,
    every_registered_phone_rings_and_the_first_to_answer_gets_it,
    the_lamp_follows_the_mailbox,
    a_registered_phone_makes_its_person_reachable,
);

/// A SUBSCRIBE by hand.
fn subscribe_text(
    local: SocketAddr,
    call_id: &str,
    cseq: u32,
    event: &str,
    to_tag: Option<&str>,
    expires: u32,
    authorization: Option<&str>,
) -> String {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "SUBSCRIBE sip:102@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};rport;branch=z9hG4bK-{call_id}-{cseq}\r\n\
         From: <sip:102@127.0.0.1>;tag=f-{call_id}\r\n\
         To: <sip:102@127.0.0.1>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} SUBSCRIBE\r\n\
         Contact: <sip:102@{local}>\r\n\
         Event: {event}\r\n\
         Expires: {expires}\r\n\
         Max-Forwards: 70\r\n\
         {auth}Content-Length: 0\r\n\r\n"
    )
}

/// The final response to a request (`method`) of `call_id`.
async fn final_response(inbox: &mut Inbox, call_id: &str, cseq: u32, method: &str) -> String {
    let (id, seq) = (
        format!("Call-ID: {call_id}\r\n"),
        format!("CSeq: {cseq} {method}\r\n"),
    );
    inbox
        .wait_for(|seen| {
            seen.iter()
                .find(|r| {
                    r.starts_with("SIP/2.0 ")
                        && !r.starts_with("SIP/2.0 1")
                        && r.contains(&id)
                        && r.contains(&seq)
                })
                .cloned()
        })
        .await
        .unwrap_or_else(|| panic!("no answer to {call_id} {cseq}"))
}

/// The NOTIFYs that reached `inbox` so far, answered 200 as a phone would.
async fn notifies(inbox: &mut Inbox, ivr: SocketAddr, at_least: usize) -> Vec<String> {
    let found = inbox
        .wait_for(|seen| {
            let n: Vec<String> = seen
                .iter()
                .filter(|r| r.starts_with("NOTIFY "))
                .cloned()
                .collect();
            (n.len() >= at_least).then_some(n)
        })
        .await
        .unwrap_or_else(|| panic!("fewer than {at_least} NOTIFYs"));
    for n in &found {
        let mut ok = String::from("SIP/2.0 200 OK\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for v in header_values(n, name) {
                ok.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        ok.push_str("Content-Length: 0\r\n\r\n");
        inbox.send(ivr, ok).await;
    }
    found
}

/// The lamp's protocol by hand: another event package is refused with 489; a SUBSCRIBE is
/// challenged like a REGISTER, then answered 200 with a tag and followed by a NOTIFY in its
/// dialog; a refresh in a dialog Hark never made gets 481; unsubscribing gets a last NOTIFY
/// saying terminated. A phone that never subscribes but whose device asks for it gets the
/// lamp unasked when it registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lamp_by_hand() {
    let stack = Stack::start(Mode::Embedded).await;
    let (_, device) = give_bob_a_phone(&stack).await;
    let ivr = stack.ivr_addr();
    let mut inbox = Inbox::bind().await;
    let local = inbox.local();

    inbox
        .send(
            ivr,
            subscribe_text(local, "s-presence", 1, "presence", None, 600, None),
        )
        .await;
    let bad = final_response(&mut inbox, "s-presence", 1, "SUBSCRIBE").await;
    assert!(bad.starts_with("SIP/2.0 489"), "{bad}");
    assert_eq!(header_values(&bad, "Allow-Events"), ["message-summary"]);

    inbox
        .send(
            ivr,
            subscribe_text(local, "s-1", 1, "message-summary", None, 600, None),
        )
        .await;
    let challenge = final_response(&mut inbox, "s-1", 1, "SUBSCRIBE").await;
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let auth = authorization_for(
        "SUBSCRIBE",
        Algorithm::Md5,
        "102",
        PASSWORD,
        &nonce(&challenge),
        1,
    );
    inbox
        .send(
            ivr,
            subscribe_text(local, "s-1", 2, "message-summary", None, 600, Some(&auth)),
        )
        .await;
    let ok = final_response(&mut inbox, "s-1", 2, "SUBSCRIBE").await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let to = header_values(&ok, "To")[0];
    let tag = &to[to.find("tag=").expect("a To tag") + 4..];
    assert_eq!(header_values(&ok, "Expires"), ["600"]);
    let first = notifies(&mut inbox, ivr, 1).await;
    assert!(first[0].contains("Event: message-summary"), "{}", first[0]);
    assert!(
        first[0].contains(&format!("tag={tag}")),
        "in the dialog: {}",
        first[0]
    );
    assert!(
        first[0].contains("Subscription-State: active"),
        "{}",
        first[0]
    );
    assert!(
        first[0].contains("Voice-Message: 0/0 (0/0)"),
        "{}",
        first[0]
    );

    inbox
        .send(
            ivr,
            subscribe_text(
                local,
                "s-1",
                3,
                "message-summary",
                Some("not-ours"),
                600,
                None,
            ),
        )
        .await;
    let unknown = final_response(&mut inbox, "s-1", 3, "SUBSCRIBE").await;
    // Challenged first (who it is comes before what it asks), then 481.
    let unknown = if unknown.starts_with("SIP/2.0 401") {
        let auth = authorization_for(
            "SUBSCRIBE",
            Algorithm::Md5,
            "102",
            PASSWORD,
            &nonce(&unknown),
            1,
        );
        inbox
            .send(
                ivr,
                subscribe_text(
                    local,
                    "s-1",
                    4,
                    "message-summary",
                    Some("not-ours"),
                    600,
                    Some(&auth),
                ),
            )
            .await;
        final_response(&mut inbox, "s-1", 4, "SUBSCRIBE").await
    } else {
        unknown
    };
    assert!(unknown.starts_with("SIP/2.0 481"), "{unknown}");

    let auth = authorization_for(
        "SUBSCRIBE",
        Algorithm::Md5,
        "102",
        PASSWORD,
        &nonce(&challenge),
        2,
    );
    inbox
        .send(
            ivr,
            subscribe_text(
                local,
                "s-1",
                5,
                "message-summary",
                Some(tag),
                0,
                Some(&auth),
            ),
        )
        .await;
    let bye = final_response(&mut inbox, "s-1", 5, "SUBSCRIBE").await;
    assert!(bye.starts_with("SIP/2.0 200"), "{bye}");
    let all = notifies(&mut inbox, ivr, 2).await;
    assert!(
        all[1].contains("Subscription-State: terminated"),
        "{}",
        all[1]
    );

    // Unasked: the device wants its lamp without a SUBSCRIBE.
    let d = device.clone();
    stack
        .app
        .deps
        .store
        .run(move |c| {
            use diesel::prelude::*;
            use hark_core::store::schema::devices as t;
            diesel::update(t::table.find(d))
                .set(t::mwi_unsolicited.eq(true))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    let mut phone = Inbox::bind().await;
    let at = phone.local();
    let mut reg = Register {
        aor: "102",
        call_id: "r-unasked",
        cseq: 1,
        contact: format!("<sip:102@{at}>"),
        extra: String::new(),
    };
    phone.send(ivr, reg.text(at, None)).await;
    let challenge = answer(&mut phone, "r-unasked", 1).await;
    reg.cseq = 2;
    let auth = authorization(Algorithm::Md5, "102", PASSWORD, &nonce(&challenge), 1);
    phone.send(ivr, reg.text(at, Some(&auth))).await;
    assert!(
        answer(&mut phone, "r-unasked", 2)
            .await
            .starts_with("SIP/2.0 200")
    );
    let unasked = notifies(&mut phone, ivr, 1).await;
    assert!(
        unasked[0].starts_with(&format!("NOTIFY sip:102@{at}")),
        "{}",
        unasked[0]
    );
    assert!(
        unasked[0].contains("Messages-Waiting: no"),
        "{}",
        unasked[0]
    );
    assert!(
        unasked[0].contains("Message-Account: sip:102@hark"),
        "{}",
        unasked[0]
    );
    stack.stop().await;
}

/// Presence from phones: Bob has no portal tab open, but his softphone is registered. Alice's
/// dashboard shows him "on the phone"; the phone menu's who-is-online names him (his recorded
/// name, a 600 Hz tone here); and presence-first, a plugin built for hark:delivery 1.1, is told
/// so and rings his phone at once instead of e-mailing him.
async fn a_registered_phone_makes_its_person_reachable(mode: Mode) {
    let stack = Stack::start(mode).await;
    let (bob, _) = give_bob_a_phone(&stack).await;
    let name = stack
        .app
        .deps
        .blobs
        .put(audio::sine_wav(600.0, 1.0, 8000))
        .await
        .unwrap();
    stack
        .app
        .deps
        .store
        .run(move |c| store::users::set_name_blob(c, &bob, Some(&name)))
        .await
        .unwrap();
    hark::plugin_cmd::add(
        &stack.app.deps.store,
        &stack.app.config,
        std::path::Path::new(hark_test_plugins::PRESENCE_FIRST),
        String::new(),
        10,
        true,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let quiet = dir.path().join("quiet.wav");
    std::fs::write(&quiet, audio::sine_wav(0.0, 90.0, 8000)).unwrap();
    let limit = Duration::from_secs(90);
    let wait = Duration::from_secs(30);
    let mut phone = Baresip::registered("102", PASSWORD, stack.ivr_addr(), &quiet, limit)
        .await
        .unwrap();
    phone.wait_log("200 OK () [1 binding]", wait).await.unwrap();

    let web = WebSession::login(&stack.base, "101", DEMO_PASSWORD).await;
    let (_, page) = web.get("/").await.unwrap();
    let row = &page[page
        .find(r#"data-extension="102""#)
        .expect("Bob in the contacts")..];
    let row = &row[..row.find("</li>").unwrap()];
    assert!(row.contains("on the phone"), "{row}");

    let mut alice = Baresip::start("101", &quiet, limit).await.unwrap();
    alice
        .command("dial", &format!("sip:hark@{}", stack.ivr_addr()))
        .await
        .unwrap();
    alice.event("CALL_ESTABLISHED", wait).await.unwrap();
    for key in "1234#1".chars() {
        alice.command("sndcode", &key.to_string()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await; // a person's key presses
    }
    alice.wait_heard(600.0, 800, wait).await.unwrap();
    alice.command("hangup", "").await.unwrap();
    alice.stop().await;

    // The router reloads its plugins after the install; until then Bob's profile decides.
    let token = stack.login("101").await;
    eventually("presence-first to ring Bob's phone first", || async {
        let id = stack
            .send(&token, "102", audio::sine_wav(440.0, 1.0, 8000))
            .await;
        let first = stack.attempts(&id).await.into_iter().next()?;
        (first.0 == "callback" && first.2 == 0).then_some(())
    })
    .await;
    phone.event("CALL_ESTABLISHED", wait).await.unwrap();
    phone.stop().await;
    stack.stop().await;
}

/// A 200 to a request Hark sent (its Via, From, To, Call-ID and CSeq copied back).
fn ok_to(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for v in header_values(request, name) {
            out.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// Register `contact` for Bob from `inbox`, answering the challenge with his password.
async fn register_bob(stack: &Stack, inbox: &mut Inbox, call_id: &str, contact: String) {
    let local = inbox.local();
    let mut reg = Register {
        aor: "102",
        call_id,
        cseq: 1,
        contact,
        extra: String::new(),
    };
    inbox.send(stack.ivr_addr(), reg.text(local, None)).await;
    let challenge = answer(inbox, call_id, 1).await;
    reg.cseq = 2;
    let auth = authorization(Algorithm::Md5, "102", PASSWORD, &nonce(&challenge), 1);
    inbox
        .send(stack.ivr_addr(), reg.text(local, Some(&auth)))
        .await;
    let ok = answer(inbox, call_id, 2).await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
}

/// A phone behind NAT (its Contact names a private address, its REGISTER came from elsewhere)
/// gets an OPTIONS now and then at the address it registered from, to keep the NAT's way back
/// open; a phone whose Contact is where it is gets none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_behind_nat_are_kept_reachable() {
    let stack = Stack::start_with(Mode::Embedded, |c| c.ivr.nat_keepalive_secs = 1).await;
    give_bob_a_phone(&stack).await;
    let mut natted = Inbox::bind().await;
    let mut plain = Inbox::bind().await;
    register_bob(
        &stack,
        &mut natted,
        "nat-a",
        "<sip:102@10.9.8.7:5062>".into(),
    )
    .await;
    let plain_contact = format!("<sip:102@{}>", plain.local());
    register_bob(&stack, &mut plain, "nat-b", plain_contact).await;

    let options = |seen: &[String]| -> Vec<String> {
        seen.iter()
            .filter(|m| m.starts_with("OPTIONS "))
            .cloned()
            .collect()
    };
    let first = natted
        .wait_for(|seen| options(seen).first().cloned())
        .await
        .expect("a keep-alive for the phone behind NAT");
    assert!(
        first.starts_with("OPTIONS sip:102@10.9.8.7:5062 SIP/2.0"),
        "sent to where the phone registered from, for its Contact: {first}"
    );
    natted.send(stack.ivr_addr(), ok_to(&first)).await;
    natted
        .wait_for(|seen| (options(seen).len() >= 2).then_some(()))
        .await
        .expect("keep-alives go on");
    support::eventually("the answered keep-alive counted", || async {
        let text = stack.app.deps.metrics.render("");
        text.lines()
            .any(|l| l.starts_with(r#"hark_ivr_nat_keepalives_total{status="200"} "#))
            .then_some(())
    })
    .await;
    // By now the plain phone would have had two as well.
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, _)) = plain.sock.try_recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(!text.starts_with("OPTIONS "), "{text}");
    }
    stack.stop().await;
}
