//! Passwords and PINs, hashed with argon2id (the OWASP recommendation) in PHC string format,
//! and checked through a [`Checker`].

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use prometheus_client::{metrics::counter::Counter, registry::Registry};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, thiserror::Error)]
#[error("could not hash the secret: {0}")]
pub struct HashError(String);

pub fn hash(secret: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// False for a wrong secret and for a malformed stored hash alike.
pub fn verify(secret: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The argon2id checks of one service (the portal's passwords, the IVR's PINs).
///
/// - **A few at a time**: each check takes ~19 MiB and tens of milliseconds of a core, so a
///   burst of logins waits for one of `at_once` turns instead of multiplying that memory by
///   the number of requests and starving everything else of CPU. Checks run on the blocking
///   pool, never on the async workers.
/// - **The same work whether or not there is a secret to check**: an unknown account, or one
///   with no password or PIN set, is checked against the hash of a random secret made at
///   start (and always fails), so the time taken does not tell a guesser which exist.
pub struct Checker {
    turns: tokio::sync::Semaphore,
    /// An argon2id hash, with [`hash`]'s parameters, of a secret nobody knows.
    stand_in: String,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    checks: Counter,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("turns", &self.turns.available_permits())
            .field("checks", &self.checks.get())
            .finish_non_exhaustive()
    }
}

impl Checker {
    /// `at_once` checks may run together (at least one). Hashes the stand-in secret, which
    /// takes tens of milliseconds: call it from a blocking context.
    pub fn new(at_once: usize) -> Result<Self, HashError> {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        Ok(Self {
            turns: tokio::sync::Semaphore::new(at_once.max(1)),
            stand_in: hash(&hex::encode(secret))?,
            running: AtomicUsize::new(0),
            most_at_once: AtomicUsize::new(0),
            checks: Counter::default(),
        })
    }

    /// Whether `given` matches `stored`; `None` (no such account, or no secret set) never
    /// matches, after the same work as a real check.
    pub async fn verify(&self, given: String, stored: Option<String>) -> bool {
        let Ok(_turn) = self.turns.acquire().await else {
            return false; // The semaphore is never closed.
        };
        let _running = Running::start(self);
        let real = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.stand_in.clone());
        let matched = tokio::task::spawn_blocking(move || verify(&given, &stored))
            .await
            .unwrap_or(false);
        self.checks.inc();
        matched && real
    }

    /// Checks finished since start.
    pub fn checks(&self) -> u64 {
        self.checks.get()
    }

    /// The most checks that have run at the same time since start.
    pub fn most_at_once(&self) -> usize {
        self.most_at_once.load(Ordering::Relaxed)
    }

    /// Export the count of checks as `name` (a counter).
    pub fn register(&self, registry: &mut Registry, name: &str, help: &str) {
        registry.register(name, help, self.checks.clone());
    }
}

/// One check under way, counted until dropped (also when the request is abandoned).
struct Running<'a>(&'a Checker);

impl<'a> Running<'a> {
    fn start(checker: &'a Checker) -> Self {
        let now = checker.running.fetch_add(1, Ordering::Relaxed) + 1;
        checker.most_at_once.fetch_max(now, Ordering::Relaxed);
        Self(checker)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn verifies_only_the_right_secret() {
        let h = super::hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse", &h));
        assert!(!super::verify("correct hose", &h));
        assert!(!super::verify("correct horse", "not a hash"));
    }

    /// The parameters of a PHC string (`m=…,t=…,p=…`).
    fn params(phc: &str) -> String {
        PasswordHash::new(phc).unwrap().params.to_string()
    }

    #[tokio::test]
    async fn an_account_without_a_secret_costs_a_full_check_and_never_matches() {
        let checker = Checker::new(1).unwrap();
        let real = hash("1234").unwrap();
        // The stand-in is as costly to check as a stored secret: the same algorithm and
        // parameters.
        assert!(checker.stand_in.starts_with("$argon2id$"));
        assert_eq!(params(&checker.stand_in), params(&real));

        assert!(checker.verify("1234".into(), Some(real.clone())).await);
        assert!(!checker.verify("1235".into(), Some(real)).await);
        assert_eq!(checker.checks(), 2);
        for guess in ["", "1234", "hark-demo"] {
            assert!(!checker.verify(guess.into(), None).await, "{guess:?}");
        }
        assert_eq!(checker.checks(), 5, "every absent secret ran a check");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn checks_run_at_most_at_once_together() {
        let checker = Arc::new(Checker::new(2).unwrap());
        let stored = hash("secret").unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (checker, stored) = (checker.clone(), stored.clone());
                tokio::spawn(async move {
                    let given = if i % 2 == 0 { "secret" } else { "guess" };
                    checker.verify(given.into(), Some(stored)).await
                })
            })
            .collect();
        let mut matched = 0;
        for t in tasks {
            matched += usize::from(t.await.unwrap());
        }
        assert_eq!(matched, 4);
        assert_eq!(checker.checks(), 8);
        let most = checker.most_at_once();
        assert!((1..=2).contains(&most), "{most} checks ran at once");
    }

    #[test]
    fn the_count_of_checks_is_exported() {
        let checker = Checker::new(1).unwrap();
        let mut registry = Registry::default();
        checker.register(&mut registry, "hark_test_checks", "Checks");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(checker.verify("x".into(), None));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("hark_test_checks_total 1"), "{text}");
    }
}
