//! Two schedulers (two routers) racing over the same due attempts fire each exactly once, on
//! SQLite and on PostgreSQL.

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use hark_core::{
    Deps,
    blob::BlobStore,
    bus::{Bus, memory::MemoryBus, outbox::OutboxSignal, standard_topology},
    events::Origin,
    ids::MessageId,
    store::{self, Store, attempts, messages, users},
};
use std::sync::Arc;

const ATTEMPTS: usize = 200;

fn pg_admin_url() -> String {
    std::env::var("HARK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn deps(url: &str, blobs: &std::path::Path) -> Deps {
    let store = Store::open(url, 4).unwrap();
    store.migrate().unwrap();
    let bus = Arc::new(MemoryBus::new(5));
    for q in standard_topology() {
        bus.declare(&q).await.unwrap();
    }
    Deps {
        store,
        bus,
        blobs: BlobStore::new(blobs, &"ab".repeat(32)).unwrap(),
        outbox: OutboxSignal::default(),
        metrics: Default::default(),
        node_id: hark_core::ids::EventId::new().into_string(),
    }
}

/// A message to one recipient with `ATTEMPTS` attempts already due.
async fn due_attempts(deps: &Deps) {
    deps.store
        .transaction(|c| {
            let a = users::create(
                c,
                users::UserInsertForm {
                    extension: "101".into(),
                    ..Default::default()
                },
            )?;
            let b = users::create(
                c,
                users::UserInsertForm {
                    extension: "102".into(),
                    ..Default::default()
                },
            )?;
            let id = MessageId::new();
            messages::create_complete(
                c,
                &messages::MessageInsertForm {
                    id: id.clone(),
                    sender: a.user_id(),
                    origin: Origin::Api,
                    duration_ms: 1000,
                    blob_key: "0000-blob".into(),
                    urgent: false,
                    recipients: vec![b.user_id()],
                },
            )?;
            for _ in 0..ATTEMPTS {
                attempts::create_attempt(
                    c,
                    &attempts::AttemptInsertForm {
                        message: id.clone(),
                        recipient: b.user_id(),
                        channel: hark_core::channel::Channel::Email,
                        endpoint: None,
                        due_at: store::now() - chrono::Duration::seconds(1),
                        give_up_at: None,
                        state: "pending",
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

async fn race(deps: Deps) {
    due_attempts(&deps).await;
    // Race until neither finds anything left to fire.
    let mut total = 0;
    for _ in 0..50 {
        let (a, b) = tokio::join!(
            hark_router::scheduler::fire_due(&deps),
            hark_router::scheduler::fire_due(&deps)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        if a + b == 0 {
            break;
        }
        total += a + b;
    }
    assert_eq!(total, ATTEMPTS, "attempts fired");
    let queued = deps.store.run(store::outbox::count).await.unwrap();
    assert_eq!(queued, ATTEMPTS as i64, "commands queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hark.db").display());
    race(deps(&url, dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let name = format!(
        "hark_r_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let mut admin = PgConnection::establish(&pg_admin_url()).unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .unwrap();
    let url = format!("{}/{name}", pg_admin_url().rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    race(deps(&url, dir.path()).await).await;
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
}
