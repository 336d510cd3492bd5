//! Console sessions: a random id in an `HttpOnly; SameSite=Strict` cookie (`Secure` when the
//! HTTP listener speaks TLS), kept in the store ([`crate::auth::SessionStore`]: the SQLite
//! database, or the cluster's PostgreSQL so any node accepts it) by its SHA-256 only — the
//! database shows no usable cookie. A restart logs nobody out. Each session's CSRF token is
//! derived from its id (so it is not stored either); a session ends at logout, when its
//! user is disabled or removed, or after `idle_timeout_secs` without a request. The role is
//! not kept with the session: every request takes the user's current one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::auth::secret::TokenHash;
use crate::auth::{AuthBackend, AuthStoreError, Identity, SessionRow};

/// The cookie's name.
pub const COOKIE: &str = "alarmhub_session";
/// The header the console's script puts on its own periodic refreshes: they do not count as
/// activity, so an unattended console still reaches its idle timeout.
pub const BACKGROUND_HEADER: &str = "x-background";
/// The header every state-changing request must carry with the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most; the longest idle are dropped beyond that.
const MAX_SESSIONS: usize = 10_000;
/// A session's "last seen" is written at most this often (ms): a burst of requests costs
/// one write, and the idle timeout is still exact to the second.
const TOUCH_EVERY_MS: i64 = 1_000;

/// One logged-in browser, as a request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who is logged in, with the user's current role.
    pub identity: Identity,
    /// The token the browser sends back in [`CSRF_HEADER`].
    pub csrf: String,
}

type Backend = Arc<Mutex<Box<dyn AuthBackend>>>;

/// The sessions in the store.
pub struct Sessions {
    idle: Duration,
    store: Option<Backend>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

/// Why a session could not be created, read or ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store failed (it names the database).
    #[error("console sessions: {0}")]
    Store(#[from] AuthStoreError),
    /// This process has no store (a detached access check).
    #[error("console sessions need the store, and this process has none")]
    NoStore,
    /// The blocking task failed.
    #[error("console sessions: {0}")]
    Task(String),
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn key(id: &str) -> TokenHash {
    Sha256::digest(id.as_bytes()).into()
}

/// The CSRF token of the session whose cookie value is `id` (not derivable from the stored
/// hash).
fn csrf_of(id: &str) -> String {
    let d = Sha256::digest(format!("alarmhub console csrf\0{id}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
}

impl Sessions {
    /// Sessions in `store` that end after `idle` without a request.
    pub fn new(idle: Duration, store: Option<Backend>) -> Sessions {
        Sessions { idle, store }
    }

    fn idle_ms(&self) -> i64 {
        i64::try_from(self.idle.as_millis()).unwrap_or(i64::MAX)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn AuthBackend) -> Result<T, AuthStoreError> + Send + 'static,
    ) -> Result<T, SessionError> {
        let store = Arc::clone(self.store.as_ref().ok_or(SessionError::NoStore)?);
        tokio::task::spawn_blocking(move || {
            let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
            f(s.as_mut())
        })
        .await
        .map_err(|e| SessionError::Task(e.to_string()))?
        .map_err(SessionError::Store)
    }

    /// Start a session for user `name`: returns the cookie value and the CSRF token.
    pub async fn create(&self, name: &str) -> Result<(String, String), SessionError> {
        let id = random_token();
        let now = crate::clock::now_ms();
        let row = SessionRow {
            id_hash: key(&id),
            name: name.to_string(),
            created_at_ms: now,
            last_seen_ms: now,
        };
        let expired_before = now.saturating_sub(self.idle_ms());
        self.run(move |s| s.create_session(&row, expired_before, MAX_SESSIONS))
            .await?;
        let csrf = csrf_of(&id);
        Ok((id, csrf))
    }

    /// The user name and CSRF token of cookie value `id`; `None` when unknown or idle too
    /// long (then it is removed). `touch`: the request is the user's doing (not a background
    /// refresh), so the idle clock starts again.
    pub async fn get(
        &self,
        id: &str,
        touch: bool,
    ) -> Result<Option<(String, String)>, SessionError> {
        let k = key(id);
        let idle = self.idle_ms();
        let name = self
            .run(move |s| {
                let Some(row) = s.session(&k)? else {
                    return Ok(None);
                };
                let now = crate::clock::now_ms();
                if now.saturating_sub(row.last_seen_ms) >= idle {
                    s.remove_session(&k)?;
                    return Ok(None);
                }
                if touch && now - row.last_seen_ms >= TOUCH_EVERY_MS.min(idle / 2) {
                    s.touch_session(&k, now)?;
                }
                Ok(Some(row.name))
            })
            .await?;
        Ok(name.map(|n| (n, csrf_of(id))))
    }

    /// End the session of cookie value `id`; whether there was one.
    pub async fn remove(&self, id: &str) -> Result<bool, SessionError> {
        let k = key(id);
        self.run(move |s| s.remove_session(&k)).await
    }
}

/// The session cookie's value in a `cookie` header, if any.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The `set-cookie` value that starts a session.
pub fn set_cookie(id: &str, secure: bool, idle: Duration) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        idle.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `set-cookie` value that ends one.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Constant-time comparison of the CSRF token a request sent with the session's.
pub fn csrf_matches(sent: Option<&[u8]>, expected: &str) -> bool {
    let Some(sent) = sent else { return false };
    let e = expected.as_bytes();
    if sent.len() != e.len() {
        return false;
    }
    sent.iter().zip(e).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &std::path::Path) -> Option<Backend> {
        let s: Box<dyn AuthBackend> = Box::new(crate::auth::SqliteAuthStore::open(dir).unwrap());
        Some(Arc::new(Mutex::new(s)))
    }

    #[tokio::test]
    async fn a_session_is_found_by_its_cookie_survives_a_reopen_and_ends_at_logout() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Sessions::new(Duration::from_secs(60), store(tmp.path()));
        let (id, csrf) = s.create("alice").await.unwrap();
        assert_eq!(
            s.get(&id, true).await.unwrap(),
            Some(("alice".to_string(), csrf.clone()))
        );
        assert!(s.get("forged", true).await.unwrap().is_none());
        // Another process on the same database (a restart) knows it too.
        let again = Sessions::new(Duration::from_secs(60), store(tmp.path()));
        assert!(again.get(&id, true).await.unwrap().is_some());
        let raw = std::fs::read(tmp.path().join(crate::store::DB_FILE)).unwrap();
        assert!(
            !raw.windows(id.len()).any(|w| w == id.as_bytes()),
            "the cookie value is not stored"
        );
        assert!(s.remove(&id).await.unwrap());
        assert!(again.get(&id, true).await.unwrap().is_none());
    }

    /// Wall-clock time (the sessions read the real clock), with room for a loaded machine:
    /// each check that must find the session live comes at least 500 ms before its idle
    /// deadline (the test had 100 ms and failed once on a busy 2-core CI machine), and
    /// the kept-alive session outlives the idle timeout almost twice over.
    #[tokio::test]
    async fn an_idle_session_expires() {
        let tmp = tempfile::tempdir().unwrap();
        let idle = Duration::from_millis(1_200);
        let s = Sessions::new(idle, store(tmp.path()));
        let (id, _) = s.create("alice").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(s.get(&id, false).await.unwrap().is_some(), "still live");
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert!(
            s.get(&id, false).await.unwrap().is_none(),
            "background refreshes do not keep it alive"
        );
        let (id, _) = s.create("alice").await.unwrap();
        let step = Duration::from_millis(700);
        // Each request comes after the touch interval (idle / 2), so each one touches.
        assert!(step.as_millis() as i64 >= TOUCH_EVERY_MS.min(idle.as_millis() as i64 / 2));
        for _ in 0..3 {
            tokio::time::sleep(step).await;
            assert!(s.get(&id, true).await.unwrap().is_some(), "kept alive");
        }
        assert!(step * 3 > idle, "the session outlived its idle timeout");
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_under_tls() {
        let c = set_cookie("abc", true, Duration::from_secs(900));
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Max-Age=900",
            "Path=/",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!set_cookie("abc", false, Duration::from_secs(1)).contains("Secure"));
        assert_eq!(cookie_value("a=1; alarmhub_session=xyz; b=2"), Some("xyz"));
        assert_eq!(cookie_value("alarmhub_session="), None);
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        assert!(csrf_matches(Some(b"tok"), "tok"));
        assert!(!csrf_matches(Some(b"tox"), "tok"));
        assert!(!csrf_matches(Some(b"to"), "tok"));
        assert!(!csrf_matches(None, "tok"));
    }
}
