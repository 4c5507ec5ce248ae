//! What a test asks of a running stack: sign in, send and upload, read what was sent, its
//! receipts and attempts, a person's row, a counter; wait for a state the product reaches.

use super::*;

impl Stack {
    pub async fn login(&self, extension: &str) -> String {
        let r: Value = self
            .http
            .post(format!("{}/api/v1/login", self.base))
            .json(&serde_json::json!({
                "extension": extension,
                "password": hark::demo::DEMO_PASSWORD,
            }))
            .send()
            .await
            .expect("login request")
            .json()
            .await
            .expect("login JSON");
        r["token"].as_str().expect("a token").to_owned()
    }

    pub async fn upload(&self, token: &str, to: &str, body: Vec<u8>) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/messages?to={to}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("upload request")
    }

    /// Upload and expect 201; returns the message id.
    pub async fn send(&self, token: &str, to: &str, body: Vec<u8>) -> String {
        let r = self.upload(token, to, body).await;
        let status = r.status();
        let v: Value = r.json().await.expect("upload JSON");
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().expect("an id").to_owned()
    }

    /// `GET /api/v1/messages/sent` as `token`'s user.
    pub async fn sent(&self, token: &str) -> Value {
        self.http
            .get(format!("{}/api/v1/messages/sent", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent request")
            .json()
            .await
            .expect("sent JSON")
    }

    /// The listen link in the first e-mail to `address`, once one arrived.
    pub async fn listen_link(&self, address: &str) -> String {
        self.wait_emails(|e| e.iter().any(|m| m.to == address))
            .await
            .iter()
            .find(|e| e.to == address)
            .expect("the e-mail waited for")
            .link()
    }

    /// The user with this extension, as stored now.
    pub async fn user(&self, extension: &'static str) -> hark_core::store::users::User {
        self.app
            .deps
            .store
            .run(move |c| hark_core::store::users::find_by_extension(c, extension))
            .await
            .expect("store reachable")
            .expect("a demo user")
    }

    /// The id of the user with this extension.
    pub async fn user_id(&self, extension: &'static str) -> hark_core::ids::UserId {
        self.user(extension).await.user_id()
    }

    /// The value of a counter in this process's metrics (`name` with its `_total`).
    pub fn counter(&self, name: &str) -> u64 {
        let text = self.app.deps.metrics.render("");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
    }

    /// Once the caller `from` has stopped a recording to `to` (`#`): it is stored and waits in
    /// the review menu, so a key pressed now is a review choice.
    pub async fn held_for_review(&self, from: &'static str, to: &'static str) {
        self.message_between(from, to, "held for review", |m| {
            m.state == "recording" && m.blob_key.is_some()
        })
        .await;
    }

    /// The newest message from `from` to `to` that `is` accepts, once there is one.
    async fn message_between(
        &self,
        from: &'static str,
        to: &'static str,
        what: &str,
        is: fn(&hark_core::store::messages::Message) -> bool,
    ) -> hark_core::store::messages::Message {
        let (sender, recipient) = (self.user_id(from).await, self.user_id(to).await);
        let store = self.app.deps.store.clone();
        eventually(&format!("a message from {from} to {to} {what}"), || {
            let (store, sender, recipient) = (store.clone(), sender.clone(), recipient.clone());
            async move {
                store
                    .run(move |c| {
                        for m in hark_core::store::messages::list_sent(c, &sender, 5)? {
                            if is(&m)
                                && hark_core::store::messages::find_recipient(
                                    c,
                                    &m.message_id(),
                                    &recipient,
                                )?
                                .is_some()
                            {
                                return Ok(Some(m));
                            }
                        }
                        Ok(None)
                    })
                    .await
                    .unwrap()
            }
        })
        .await
    }

    /// The message `from` last sent to `to`, once complete: its decoded audio.
    pub async fn recording_between(&self, from: &'static str, to: &'static str) -> (Vec<f32>, u32) {
        let message = self
            .message_between(from, to, "complete", |m| m.state == "complete")
            .await;
        let decoded = decoded_recording(&self.app.deps, &message).await;
        (decoded.samples, decoded.sample_rate)
    }

    /// The attempts the router stored for a message, once there are some: (channel, endpoint,
    /// seconds after the first), in time order.
    pub async fn attempts(&self, id: &str) -> Vec<(String, Option<String>, i64)> {
        eventually("attempts", || async move {
            let list = self.attempt_rows(id).await;
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
        })
        .await
    }

    /// Once message `id`'s `channel` attempt has been handed to its worker.
    pub async fn wait_attempt_dispatched(&self, id: &str, channel: &str) {
        eventually(&format!("a dispatched {channel} attempt"), || async move {
            self.attempt_rows(id)
                .await
                .iter()
                .any(|a| a.channel == channel && a.state == "dispatched")
                .then_some(())
        })
        .await
    }

    /// The delivery attempts made so far for message `id`.
    pub async fn attempt_rows(&self, id: &str) -> Vec<hark_core::store::attempts::Attempt> {
        let id = hark_core::ids::MessageId::from(id);
        self.app
            .deps
            .store
            .run(move |c| hark_core::store::attempts::list_attempts(c, &id))
            .await
            .unwrap()
    }

    /// Bob (102) gets a phone Hark can call back.
    pub async fn give_bob_a_phone(&self) {
        self.app
            .deps
            .store
            .run(|c| {
                use diesel::prelude::*;
                use hark_core::store::schema::users;
                diesel::update(users::table.filter(users::extension.eq("102")))
                    .set(users::phone_uri.eq("sip:bob@127.0.0.1:5099"))
                    .execute(c)?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Give `extension` a delivery profile (steps as JSON).
    pub async fn set_profile(&self, extension: &'static str, channels: &'static str) {
        set_profile(&self.app.deps.store, extension, channels).await;
    }

    /// Show `extension` as present (available), as a portal tab's heartbeat would.
    pub async fn set_online(&self, extension: &'static str) {
        use diesel::ExpressionMethods;
        use hark_core::store::schema::presence;
        let id = self.user_id(extension).await;
        self.app
            .deps
            .store
            .run(move |c| {
                diesel::insert_into(presence::table)
                    .values((
                        presence::user_id.eq(id.as_str()),
                        presence::node.eq("test"),
                        presence::status.eq("available"),
                        presence::heartbeat_at.eq(hark_core::store::now()),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await
            .expect("store reachable");
    }

    pub async fn message(&self, token: &str, id: &str) -> Value {
        self.http
            .get(format!("{}/api/v1/messages/{id}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("message request")
            .json()
            .await
            .expect("message JSON")
    }

    /// Wait until recipient `extension` of message `id` has a receipt of `kind`.
    pub async fn wait_receipt(&self, token: &str, id: &str, extension: &str, kind: &str) -> Value {
        eventually(&format!("a {kind} receipt from {extension}"), || async {
            let m = self.message(token, id).await;
            let has = recipient(&m, extension)["receipts"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["kind"] == kind));
            has.then_some(m)
        })
        .await
    }
}
