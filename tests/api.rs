//! The JSON API end to end, on both backends: a person reads their inbox a page at a time,
//! plays a message (the audio is what was sent), says they heard it (the sender gets "heard",
//! once), marks it unheard, deletes and restores it; sets presence, keeps contacts and groups;
//! and nobody reaches another person's messages or groups. An admin provisions a person with a
//! phone and a delivery plan — the phone (baresip) registers with the sign-in the API gave
//! it — and the provisioning script in docs/OPERATIONS.md does the same with curl. Bad input is
//! answered with the field it is about; every path the OpenAPI document names is served.

mod support;

use hark::demo::DEMO_PASSWORD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Mode, Stack, audio, baresip::Baresip, both_modes, eventually};

/// One person's view of the API.
struct Client<'a> {
    stack: &'a Stack,
    token: String,
}

impl<'a> Client<'a> {
    async fn of(stack: &'a Stack, extension: &str) -> Self {
        Self {
            stack,
            token: stack.login(extension).await,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self
            .stack
            .http
            .request(method, format!("{}{path}", self.stack.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("API request");
        let status = r.status();
        let text = r.text().await.expect("API body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// GET that must succeed.
    async fn read(&self, path: &str) -> Value {
        let (status, v) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    async fn send(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(method, path, Some(body)).await
    }

    async fn bytes(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let r = self
            .stack
            .http
            .get(format!("{}{path}", self.stack.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("audio request");
        (r.status(), r.bytes().await.expect("audio body").to_vec())
    }
}

/// A refusal: the status and the field it names.
fn refused(answer: &(StatusCode, Value), status: u16, field: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["field"], field, "{}", answer.1);
    assert!(
        answer.1["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        answer.1
    );
}

async fn a_person_works_their_inbox_over_the_api(mode: Mode) {
    let stack = Stack::start(mode).await;
    let alice_token = stack.login("101").await;
    // Two messages from Alice to Bob: a low tone, then a high one.
    let low = stack
        .send(&alice_token, "102", audio::sine_wav(440.0, 1.5, 16_000))
        .await;
    let high = stack
        .send(&alice_token, "102", audio::sine_wav(1_000.0, 1.0, 16_000))
        .await;
    let bob = Client::of(&stack, "102").await;

    // Newest first, a page at a time.
    let first = bob.read("/api/v1/inbox?per_page=1").await;
    assert_eq!(first["unheard"], 2, "{first}");
    assert_eq!(first["messages"][0]["id"], high.as_str(), "{first}");
    assert_eq!(first["messages"][0]["from"]["extension"], "101");
    assert_eq!(first["messages"][0]["heard"], false);
    let next = first["next"].as_str().expect("a next page").to_owned();
    let second = bob.read(&next).await;
    assert_eq!(second["messages"][0]["id"], low.as_str(), "{second}");
    assert!(second["next"].is_null(), "{second}");
    refused(&bob.get("/api/v1/inbox?per_page=0").await, 422, "per_page");

    // The audio is what Alice sent; fetching it is not hearing it.
    let audio_path = first["messages"][0]["audio"].as_str().unwrap().to_owned();
    let (status, wav) = bob.bytes(&audio_path).await;
    assert_eq!(status, 200);
    let heard = hark_core::audio::decode(&wav, 60).expect("the audio decodes");
    assert_eq!(
        audio::dominant(&heard.samples, heard.sample_rate, &[440.0, 1_000.0]),
        1_000.0
    );
    assert!(
        (900..=1_100).contains(&(heard.samples.len() as u64 * 1000 / u64::from(heard.sample_rate))),
        "one second of it"
    );
    assert_eq!(bob.read("/api/v1/inbox").await["unheard"], 2);

    // Nobody else reaches Bob's message: Carol not at all, Alice (its sender) not as inbox.
    let carol = Client::of(&stack, "103").await;
    let alice = Client::of(&stack, "101").await;
    for who in [&carol, &alice] {
        assert_eq!(who.get(&format!("/api/v1/inbox/{high}")).await.0, 404);
        assert_eq!(who.bytes(&audio_path).await.0, 404);
        assert_eq!(
            who.call(Method::POST, &format!("/api/v1/inbox/{high}/heard"), None)
                .await
                .0,
            404
        );
        assert_eq!(
            who.call(Method::DELETE, &format!("/api/v1/inbox/{high}"), None)
                .await
                .0,
            404
        );
    }

    // Heard: Alice gets "heard", once, however often Bob says so.
    for _ in 0..2 {
        let (status, _) = bob
            .call(Method::POST, &format!("/api/v1/inbox/{high}/heard"), None)
            .await;
        assert_eq!(status, 204);
    }
    let m = stack
        .wait_receipt(&alice_token, &high, "102", "heard")
        .await;
    let heard_receipts = support::recipient(&m, "102")["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "heard")
        .count();
    assert_eq!(heard_receipts, 1, "{m}");
    let now = bob.read(&format!("/api/v1/inbox/{high}")).await;
    assert_eq!(now["heard"], true, "{now}");
    assert_eq!(bob.read("/api/v1/inbox").await["unheard"], 1);

    // Unheard again, then deleted to the trash and restored.
    let (status, _) = bob
        .call(Method::POST, &format!("/api/v1/inbox/{high}/unheard"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        bob.read(&format!("/api/v1/inbox/{high}")).await["heard"],
        false
    );
    let (status, _) = bob
        .call(Method::DELETE, &format!("/api/v1/inbox/{low}"), None)
        .await;
    assert_eq!(status, 204);
    let left = bob.read("/api/v1/inbox").await;
    assert_eq!(left["messages"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(bob.get(&format!("/api/v1/inbox/{low}")).await.0, 404);
    let trash = bob.read("/api/v1/inbox/trash").await;
    assert_eq!(trash["messages"][0]["id"], low.as_str(), "{trash}");
    assert!(trash["messages"][0]["deleted_at"].is_string(), "{trash}");
    let (status, _) = bob
        .call(Method::POST, &format!("/api/v1/inbox/{low}/restore"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        bob.read("/api/v1/inbox").await["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A token that may only read cannot change anything.
    let reader = Client {
        stack: &stack,
        token: read_only_token(&stack, "102").await,
    };
    assert_eq!(reader.read("/api/v1/inbox").await["unheard"], 2);
    assert_eq!(
        reader
            .call(Method::DELETE, &format!("/api/v1/inbox/{high}"), None)
            .await
            .0,
        403
    );
    stack.stop().await;
}

/// A named token of `extension`'s with scope `read` only.
async fn read_only_token(stack: &Stack, extension: &'static str) -> String {
    let uid = stack.user_id(extension).await;
    stack
        .app
        .deps
        .store
        .run(move |c| {
            hark_core::store::sessions::create_scoped_api_token(
                c,
                &uid,
                "reader",
                chrono::Duration::days(1),
                &["read"],
            )
        })
        .await
        .unwrap()
}

async fn presence_contacts_and_groups_over_the_api(mode: Mode) {
    let stack = Stack::start(mode).await;
    let bob = Client::of(&stack, "102").await;

    let p = bob.read("/api/v1/presence").await;
    assert_eq!(p["status"], "available", "{p}");
    assert_eq!(p["shown_as"], "offline", "no portal open: {p}");
    let (status, p) = bob
        .send(Method::PUT, "/api/v1/presence", json!({"status": "busy"}))
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["status"], "busy");
    assert_eq!(stack.user("102").await.status, "busy");
    refused(
        &bob.send(Method::PUT, "/api/v1/presence", json!({"status": "asleep"}))
            .await,
        422,
        "status",
    );
    refused(
        &bob.send(Method::PUT, "/api/v1/presence", json!({})).await,
        400,
        "status",
    );

    // Contacts, with speed dials.
    refused(
        &bob.send(
            Method::PUT,
            "/api/v1/contacts/103",
            json!({"speed_dial": 12}),
        )
        .await,
        422,
        "speed_dial",
    );
    refused(
        &bob.send(
            Method::PUT,
            "/api/v1/contacts/103",
            json!({"speed_dial": "three"}),
        )
        .await,
        422,
        "speed_dial",
    );
    let (status, c) = bob
        .send(
            Method::PUT,
            "/api/v1/contacts/103",
            json!({"speed_dial": 3}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["extension"], "103");
    let list = bob.read("/api/v1/contacts").await;
    let carol = list["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["extension"] == "103")
        .expect("Carol is a contact")
        .clone();
    assert_eq!(carol["speed_dial"], 3, "{list}");
    assert_eq!(carol["status"], "offline", "{list}");
    assert_eq!(
        bob.send(Method::PUT, "/api/v1/contacts/999", json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        bob.call(Method::DELETE, "/api/v1/contacts/103", None)
            .await
            .0,
        204
    );
    assert_eq!(
        bob.call(Method::DELETE, "/api/v1/contacts/103", None)
            .await
            .0,
        404
    );

    // Groups: Bob's own, which Alice can neither change nor remove.
    refused(
        &bob.send(
            Method::POST,
            "/api/v1/groups",
            json!({"number": "310", "name": "Lunch", "members": ["103", "999"]}),
        )
        .await,
        422,
        "members",
    );
    refused(
        &bob.send(
            Method::POST,
            "/api/v1/groups",
            json!({"number": "31a", "name": "Lunch"}),
        )
        .await,
        422,
        "number",
    );
    refused(
        &bob.send(
            Method::POST,
            "/api/v1/groups",
            json!({"number": "101", "name": "Lunch"}),
        )
        .await,
        422,
        "number",
    );
    let (status, g) = bob
        .send(
            Method::POST,
            "/api/v1/groups",
            json!({"number": "310", "name": "Lunch", "members": ["103", "104"]}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    assert_eq!(g["members"].as_array().unwrap().len(), 2, "{g}");
    assert_eq!(g["owner"], "102");
    let alice = Client::of(&stack, "101").await;
    assert_eq!(
        alice
            .send(Method::PUT, "/api/v1/groups/310", json!({"name": "Mine"}))
            .await
            .0,
        404
    );
    assert_eq!(
        alice
            .call(Method::DELETE, "/api/v1/groups/310", None)
            .await
            .0,
        404
    );
    let (status, g) = bob
        .send(
            Method::PUT,
            "/api/v1/groups/310",
            json!({"name": "Lunch club", "members": ["101"]}),
        )
        .await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["name"], "Lunch club");
    let alices = alice.read("/api/v1/groups").await;
    assert!(
        alices["member_of"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["number"] == "310"),
        "{alices}"
    );
    // The group number works for sending at once.
    let token = stack.login("103").await;
    stack
        .send(&token, "310", audio::sine_wav(440.0, 0.5, 16_000))
        .await;
    assert_eq!(alice.read("/api/v1/inbox").await["unheard"], 1);
    assert_eq!(
        bob.call(Method::DELETE, "/api/v1/groups/310", None).await.0,
        204
    );
    stack.stop().await;
}

const PHONE_PASSWORD: &str = "danas-desk-phone";

async fn an_admin_provisions_a_person_with_a_phone(mode: Mode) {
    let stack = Stack::start(mode).await;
    let admin = Client::of(&stack, "101").await;
    let bob = Client::of(&stack, "102").await;
    assert_eq!(bob.get("/api/v1/admin/users").await.0, 403, "not an admin");

    refused(
        &admin
            .send(
                Method::POST,
                "/api/v1/admin/users",
                json!({"extension": "150", "name": "Dana Diaz", "pin": "12"}),
            )
            .await,
        422,
        "pin",
    );
    refused(
        &admin
            .send(
                Method::POST,
                "/api/v1/admin/users",
                json!({"extension": "102", "name": "Dana Diaz", "pin": "1234"}),
            )
            .await,
        422,
        "extension",
    );
    refused(
        &admin
            .send(
                Method::POST,
                "/api/v1/admin/users",
                json!({"extension": "150", "pin": "1234"}),
            )
            .await,
        400,
        "name",
    );
    refused(
        &admin
            .send(
                Method::POST,
                "/api/v1/admin/users",
                json!({"extension": "150", "name": "Dana", "pin": "1234", "admn": true}),
            )
            .await,
        400,
        "admn",
    );
    let (status, dana) = admin
        .send(
            Method::POST,
            "/api/v1/admin/users",
            json!({
                "extension": "150",
                "name": "Dana Diaz",
                "email": "dana@example.org",
                "password": "danas-portal-password",
                "pin": "4321",
                "timezone": "Europe/Lisbon",
            }),
        )
        .await;
    assert_eq!(status, 201, "{dana}");
    assert_eq!(dana["timezone"], "Europe/Lisbon");
    assert_eq!(dana["has_pin"], true);

    // A phone with a sign-in.
    refused(
        &admin
            .send(
                Method::POST,
                "/api/v1/admin/users/150/devices",
                json!({"kind": "pager", "address": "x"}),
            )
            .await,
        422,
        "kind",
    );
    let (status, phone) = admin
        .send(
            Method::POST,
            "/api/v1/admin/users/150/devices",
            json!({"kind": "sip", "address": "sip:150@hark"}),
        )
        .await;
    assert_eq!(status, 201, "{phone}");
    assert_eq!(phone["verified"], true);
    let id = phone["id"].as_str().unwrap().to_owned();
    refused(
        &admin
            .send(
                Method::PUT,
                &format!("/api/v1/admin/users/150/devices/{id}/sip"),
                json!({"username": "150", "password": "short"}),
            )
            .await,
        422,
        "password",
    );
    // Under someone else's extension the device is not found.
    assert_eq!(
        admin
            .send(
                Method::PUT,
                &format!("/api/v1/admin/users/102/devices/{id}/sip"),
                json!({"username": "150", "password": PHONE_PASSWORD}),
            )
            .await
            .0,
        404
    );
    let (status, phone) = admin
        .send(
            Method::PUT,
            &format!("/api/v1/admin/users/150/devices/{id}/sip"),
            json!({"username": "150", "password": PHONE_PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{phone}");
    assert_eq!(phone["sip"]["username"], "150");
    assert!(!phone.to_string().contains(PHONE_PASSWORD));

    // A delivery plan: pop-up, then the phone after a minute; quiet at night.
    refused(
        &admin
            .send(
                Method::PUT,
                "/api/v1/admin/users/150/delivery",
                json!({"steps": [{"channel": "pigeon"}]}),
            )
            .await,
        422,
        "steps",
    );
    refused(
        &admin
            .send(
                Method::PUT,
                "/api/v1/admin/users/150/delivery",
                json!({"steps": [{"channel": "popup", "after_secs": -1}]}),
            )
            .await,
        422,
        "steps[0].after_secs",
    );
    let plan = json!({
        "steps": [
            {"channel": "popup", "after_secs": 0},
            {"channel": "callback", "after_secs": 60, "endpoint": id},
        ],
        "quiet_hours": {"from": "22:00", "to": "07:00", "allow": ["email"]},
        "senders": [],
        "attach_audio": false,
    });
    let (status, saved) = admin
        .send(
            Method::PUT,
            "/api/v1/admin/users/150/delivery",
            plan.clone(),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved, plan);

    // Into a group.
    assert_eq!(
        admin
            .call(Method::PUT, "/api/v1/admin/groups/200/members/150", None)
            .await
            .0,
        204
    );
    let groups = admin.read("/api/v1/admin/groups").await;
    let sales = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["number"] == "200")
        .unwrap()
        .clone();
    assert!(
        sales["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["extension"] == "150"),
        "{sales}"
    );

    // Dana's desk phone registers with what the API gave it, and the API says from where.
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(440.0, 30.0, 8000)).unwrap();
    let desk = Baresip::registered(
        "150",
        PHONE_PASSWORD,
        stack.ivr_addr(),
        &mic,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    desk.wait_log("200 OK () [1 binding]", Duration::from_secs(20))
        .await
        .unwrap();
    let registered = eventually("the phone shown registered", || async {
        let v = admin.read("/api/v1/admin/users/150").await;
        let r = v["devices"][0]["sip"]["registered"].clone();
        r.as_array().is_some_and(|a| a.len() == 1).then_some(r)
    })
    .await;
    assert_eq!(
        registered[0]["source"],
        format!("udp:{}", desk.sip),
        "{registered}"
    );
    desk.stop().await;

    // Dana signs in; disabled, her token stops working at once.
    let dana_token: Value = stack
        .http
        .post(format!("{}/api/v1/login", stack.base))
        .json(&json!({"extension": "150", "password": "danas-portal-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dana = Client {
        stack: &stack,
        token: dana_token["token"]
            .as_str()
            .expect("Dana signs in")
            .to_owned(),
    };
    assert_eq!(dana.read("/api/v1/inbox").await["unheard"], 0);
    refused(
        &admin
            .send(
                Method::PATCH,
                "/api/v1/admin/users/101",
                json!({"disabled": true}),
            )
            .await,
        422,
        "disabled",
    );
    let (status, changed) = admin
        .send(
            Method::PATCH,
            "/api/v1/admin/users/150",
            json!({"disabled": true, "email": null}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["disabled"], true);
    assert!(changed["email"].is_null(), "{changed}");
    assert_eq!(dana.get("/api/v1/inbox").await.0, 401);

    // The device goes; once.
    let path = format!("/api/v1/admin/users/150/devices/{id}");
    assert_eq!(admin.call(Method::DELETE, &path, None).await.0, 204);
    assert_eq!(admin.call(Method::DELETE, &path, None).await.0, 404);
    stack.stop().await;
}

/// The script in docs/OPERATIONS.md between its `provision.sh` markers.
fn provisioning_script() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/OPERATIONS.md"))
        .unwrap();
    let start = doc
        .find("```bash\n#!/usr/bin/env bash\n# provision.sh")
        .expect("the provisioning script in OPERATIONS.md");
    let body = &doc[start + "```bash\n".len()..];
    body[..body.find("```").unwrap()].to_owned()
}

/// The provisioning script at `script`, run by Alice (an admin) against `base` for Eve (160),
/// with `more` settings.
fn provision(
    script: &std::path::Path,
    base: &str,
    more: &[(&str, &str)],
) -> tokio::process::Command {
    let mut run = tokio::process::Command::new("bash");
    run.arg(script)
        .env("HARK", base)
        .env("ADMIN", "101")
        .env("ADMIN_PASSWORD", DEMO_PASSWORD)
        .env("EXT", "160")
        .env("NAME", "Eve Evans")
        .env("PASSWORD", "eves-portal-password")
        .env("SIP_PASSWORD", "eves-phone-secret")
        .envs(more.iter().copied());
    run
}

/// The documented provisioning script, run as an operator would, makes a person who can
/// sign in, with a phone that can register and the plan it sets.
async fn the_documented_provisioning_script_works(mode: Mode) {
    let stack = Stack::start(mode).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("provision.sh");
    std::fs::write(&script, provisioning_script()).unwrap();
    let run = provision(
        &script,
        &stack.base,
        &[
            ("EMAIL", "eve@example.org"),
            ("PIN", "2468"),
            ("GROUP", "200"),
        ],
    )
    .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the script finishes")
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("160"), "{said}");

    let admin = Client::of(&stack, "101").await;
    let eve = admin.read("/api/v1/admin/users/160").await;
    assert_eq!(eve["name"], "Eve Evans", "{eve}");
    assert_eq!(eve["devices"][0]["sip"]["username"], "160", "{eve}");
    assert_eq!(eve["delivery"]["steps"][1]["channel"], "callback", "{eve}");
    let phone = tempfile::tempdir().unwrap();
    let mic = phone.path().join("mic.wav");
    std::fs::write(&mic, audio::sine_wav(440.0, 30.0, 8000)).unwrap();
    let desk = Baresip::registered(
        "160",
        "eves-phone-secret",
        stack.ivr_addr(),
        &mic,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    desk.wait_log("200 OK () [1 binding]", Duration::from_secs(20))
        .await
        .unwrap();
    desk.stop().await;
    // Run twice, it refuses to make Eve again and says why.
    let again = provision(&script, &stack.base, &[]).output().await.unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("is taken")
            || String::from_utf8_lossy(&again.stderr).contains("is taken"),
        "{again:?}"
    );
    stack.stop().await;
}

/// Every path and method the OpenAPI document names is served: without a token each answers
/// 401 (or its own answer for the public ones), never the portal's "no such page".
async fn every_documented_path_is_served(mode: Mode) {
    let stack = Stack::start(mode).await;
    let doc: Value = stack
        .http
        .get(format!("{}/api/v1/openapi.json", stack.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{token}", "not-a-token")
            .replace("{extension}", "102")
            .replace("{number}", "200")
            .replace("{attachment}", "none");
        for (method, op) in item.as_object().unwrap() {
            let secured = op.get("security").is_none_or(|s| s != &json!([]));
            let r = stack
                .http
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{url}", stack.base),
                )
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap();
            if secured {
                assert_eq!(status, 401, "{method} {path}: {body}");
            } else {
                assert!(
                    status != 404 || body.contains("\"error\""),
                    "{method} {path} is not served: {status} {body}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} operations documented");
    stack.stop().await;
}

both_modes!(
    a_person_works_their_inbox_over_the_api,
    presence_contacts_and_groups_over_the_api,
    an_admin_provisions_a_person_with_a_phone,
    the_documented_provisioning_script_works,
    every_documented_path_is_served,
);
