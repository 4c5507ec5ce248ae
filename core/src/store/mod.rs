//! The store: diesel over SQLite (embedded default) or PostgreSQL, chosen by URL.
//!
//! One schema ([`schema`]) serves both backends through `#[derive(MultiConnection)]`;
//! migrations live per backend in `migrations/{sqlite,postgres}` and are embedded in the
//! binary. Diesel is synchronous, so every query runs on tokio's blocking pool through
//! [`Store::run`] / [`Store::transaction`] with a pooled connection. SQLite runs in WAL mode
//! with a busy timeout and foreign keys on.

pub mod attachments;
pub mod attempts;
pub mod claims;
pub mod devices;
pub mod forms;
pub mod groups;
pub mod inbox;
pub mod live_chunks;
pub mod messages;
pub mod mwi;
pub mod nodes;
pub mod outbox;
pub mod plugins;
pub mod presence;
pub mod processed;
pub mod profiles;
pub mod receipts;
pub mod recordings;
pub mod registrations;
pub mod schema;
pub mod sessions;
pub mod upload_keys;
pub mod users;

use diesel::{
    connection::SimpleConnection,
    pg::PgConnection,
    r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection},
    sqlite::SqliteConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::{fmt, time::Duration};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbConnection::Postgresql(_) => "DbConnection::Postgresql",
            DbConnection::Sqlite(_) => "DbConnection::Sqlite",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database connection: {0}")]
    Connection(String),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("unsupported database url (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// What was asked for is not allowed (a kind that does not exist, say).
    #[error("{0}")]
    Invalid(String),
    #[error("no extension or group number {}", .0.join(", "))]
    NotFoundNumbers(Vec<String>),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// True when the database itself could not be reached or went away mid-query (down,
    /// restarting, the connection cut), as opposed to a query that failed on its own merits:
    /// waiting and trying the same work again is the right answer.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Connection(_) => true,
            StoreError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _))
            | StoreError::Query(Error::BrokenTransactionManager) => true,
            StoreError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message().to_ascii_lowercase();
                [
                    "terminating connection",
                    "the database system is",
                    "server closed the connection",
                    "no connection to the server",
                    "could not connect",
                    "connection refused",
                    "connection has been closed",
                    "database is locked",
                ]
                .iter()
                .any(|p| m.contains(p))
            }
            _ => false,
        }
    }

    /// True when an insert collided with an existing row's unique key.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// True when the error means the row does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound(_) | StoreError::Query(diesel::result::Error::NotFound)
        )
    }
}

/// Opens the pool's connections to the one backend the URL names. (Diesel's own manager goes
/// through `MultiConnection::establish`, which tries every backend and reports any failure as
/// "Invalid connection url": a database that is full or still starting would look like a
/// wrong URL, and a process would give up instead of waiting for it.)
#[derive(Debug)]
struct Connector {
    backend: Backend,
    url: String,
}

impl ManageConnection for Connector {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        use diesel::Connection;
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.url).map(DbConnection::Postgresql),
            Backend::Sqlite => SqliteConnection::establish(&self.url).map(DbConnection::Sqlite),
        }
        .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Sets SQLite's per-connection pragmas.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(c) = conn {
            // busy_timeout first, so the others wait instead of failing on a busy file.
            c.batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// A pool of connections to one database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Connector>,
    backend: Backend,
}

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open a pool for `sqlite://PATH` or `postgres://…` (the SQLite file and its folder are
    /// created when missing).
    pub fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let (backend, conn_url) = if let Some(path) = url.strip_prefix("sqlite://") {
            if let Some(dir) = std::path::Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Connection(format!("{}: {e}", dir.display())))?;
            }
            // WAL is a property of the file: switch once, before the pool opens connections
            // concurrently (which would race for the lock that change needs).
            use diesel::Connection;
            let mut first = SqliteConnection::establish(path)
                .map_err(|e| StoreError::Connection(format!("{path}: {e}")))?;
            first.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
            (Backend::Sqlite, path.to_owned())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let manager = Connector {
            backend,
            url: conn_url,
        };
        let pool = Pool::builder()
            .max_size(max_connections.max(1))
            // Connections are opened as work needs them (up to the most), not all at start: a
            // deployment of many processes holds what it uses of the database's own limit.
            .min_idle(Some(1))
            // A database that is down fails requests after this long (a 503 the client can
            // retry) instead of holding them.
            .connection_timeout(Duration::from_secs(5))
            .connection_customizer(Box::new(SqlitePragmas))
            .build(manager)
            .map_err(|e| StoreError::Connection(e.to_string()))?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn conn(&self) -> Result<PooledConnection<Connector>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Connection(e.to_string()))
    }

    /// Apply pending migrations; returns how many ran.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let ran = match &mut *conn {
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            DbConnection::Postgresql(c) => c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len()),
        };
        ran.map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Run `f` with a connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = store.conn()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Run `f` inside one transaction: everything it writes, outbox rows included, commits
    /// together or not at all.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(move |conn| transaction(conn, f)).await
    }

    /// Is the database reachable? For `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
        .await
    }
}

/// A transaction on an already-held connection.
///
/// On SQLite the transaction starts with `BEGIN IMMEDIATE`, so concurrent writers wait on the
/// busy timeout instead of failing when a read lock cannot be upgraded (WAL mode answers that
/// case with an immediate `SQLITE_BUSY`). `f` must not open transactions of its own; the store
/// modules never do.
pub fn transaction<T, F>(conn: &mut DbConnection, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError>,
{
    use diesel::Connection;
    if !matches!(conn, DbConnection::Sqlite(_)) {
        return conn.transaction(f);
    }
    conn.batch_execute("BEGIN IMMEDIATE")?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
    match outcome {
        Ok(Ok(value)) => match conn.batch_execute("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                rollback(conn);
                Err(e.into())
            }
        },
        Ok(Err(e)) => {
            rollback(conn);
            Err(e)
        }
        Err(panic) => {
            rollback(conn);
            std::panic::resume_unwind(panic)
        }
    }
}

fn rollback(conn: &mut DbConnection) {
    if let Err(e) = conn.batch_execute("ROLLBACK") {
        tracing::error!(error = %e, "rollback failed");
    }
}

/// The current time as stored (UTC, no zone), at microsecond precision: PostgreSQL keeps
/// microseconds, so a value the code holds equals the value it reads back on both backends.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let t = chrono::Utc::now().naive_utc();
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}
