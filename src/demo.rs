//! `hark serve --demo`: a few people, contacts and a group, so a newcomer can try Hark at once;
//! with a SIP realm, each also gets a softphone device that signs in with their extension and
//! the demo password, so a newcomer can register a softphone at once. Seeding is idempotent:
//! it does nothing when extension 101 already exists.

use anyhow::Result;
use hark_core::{
    password,
    store::{Store, devices, groups, users},
};

/// Password of every demo user (documented in the README; demo data only).
pub const DEMO_PASSWORD: &str = "hark-demo";
/// Phone PIN of every demo user.
pub const DEMO_PIN: &str = "1234";

/// (extension, name, e-mail)
pub const DEMO_USERS: [(&str, &str, &str); 4] = [
    ("101", "Alice Archer", "alice@example.org"),
    ("102", "Bob Baker", "bob@example.org"),
    ("103", "Carol Chen", "carol@example.org"),
    ("104", "Dan Diaz", "dan@example.org"),
];

/// The demo group's dialable number.
pub const DEMO_GROUP: (&str, &str) = ("200", "Team");

/// Seed the demo data; returns false when it was already there. With `phones_realm` (the
/// IVR's `sip_realm`), each person also gets a SIP device signing in as their extension with
/// [`DEMO_PASSWORD`].
pub async fn seed(store: &Store, phones_realm: Option<&str>) -> Result<bool> {
    let realm = phones_realm.map(str::to_owned);
    let password_hash = password::hash(DEMO_PASSWORD)?;
    let pin_hash = password::hash(DEMO_PIN)?;
    let seeded = store
        .transaction(move |c| {
            if users::find_by_extension(c, DEMO_USERS[0].0)?.is_some() {
                return Ok(false);
            }
            let mut people = Vec::new();
            for (i, (ext, name, email)) in DEMO_USERS.iter().enumerate() {
                people.push(users::create(
                    c,
                    users::UserInsertForm {
                        extension: (*ext).into(),
                        display_name: (*name).into(),
                        email: Some((*email).into()),
                        phone_uri: None,
                        pin_hash: Some(pin_hash.clone()),
                        password_hash: Some(password_hash.clone()),
                        admin: i == 0,
                    },
                )?);
            }
            // Everyone has everyone else as a contact, speed dials 1, 2, 3 in extension order.
            for owner in &people {
                let others = people.iter().filter(|p| p.id != owner.id);
                for (dial, other) in (1..).zip(others) {
                    groups::add_contact(c, &owner.user_id(), &other.user_id(), Some(dial))?;
                }
            }
            if let Some(realm) = &realm {
                for p in &people {
                    let address = format!("sip:{}@{realm}", p.extension);
                    let d = devices::add(c, &p.user_id(), "sip", &address, None)?;
                    devices::set_sip_credentials(
                        c,
                        &p.user_id(),
                        &d.id,
                        &p.extension,
                        DEMO_PASSWORD,
                        realm,
                        false,
                        false,
                    )?;
                }
            }
            let team = groups::create(c, DEMO_GROUP.0, DEMO_GROUP.1, Some(&people[0].user_id()))?;
            for p in &people {
                groups::add_member(c, &team.id, &p.user_id())?;
            }
            Ok(true)
        })
        .await?;
    Ok(seeded)
}
