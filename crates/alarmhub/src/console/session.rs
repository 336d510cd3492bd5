//! Console sessions: a random id in an `HttpOnly; SameSite=Strict` cookie (`Secure` when the
//! HTTP listener speaks TLS), kept in memory by its SHA-256 (a memory dump shows no usable
//! cookie), each with its own CSRF token, ended by logout or after `idle_timeout_secs` without
//! a request. A restart logs everyone out, which is what an operator expects of a console
//! that was just upgraded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::auth::Identity;

/// The cookie's name.
pub const COOKIE: &str = "alarmhub_session";
/// The header the console's script puts on its own periodic refreshes: they do not count as
/// activity, so an unattended console still reaches its idle timeout.
pub const BACKGROUND_HEADER: &str = "x-background";
/// The header every state-changing request must carry with the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most; the longest idle is dropped beyond that.
const MAX_SESSIONS: usize = 10_000;

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who logged in.
    pub identity: Identity,
    /// The token the browser sends back in [`CSRF_HEADER`].
    pub csrf: String,
    last_seen: Instant,
}

/// Every live session.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Sessions that end after `idle` without a request.
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start a session for `identity`: returns the cookie value and the session.
    pub fn create(&self, identity: Identity) -> (String, Session) {
        let id = random_token();
        let s = Session {
            identity,
            csrf: random_token(),
            last_seen: Instant::now(),
        };
        let mut m = self.lock();
        let now = Instant::now();
        m.retain(|_, v| now.duration_since(v.last_seen) < self.idle);
        if m.len() >= MAX_SESSIONS {
            if let Some(oldest) = m.iter().min_by_key(|(_, v)| v.last_seen).map(|(k, _)| *k) {
                m.remove(&oldest);
            }
        }
        m.insert(key(&id), s.clone());
        (id, s)
    }

    /// The session of cookie value `id`; `None` when unknown or idle too long (then it is
    /// removed). `touch`: the request is the user's doing (not a background refresh), so the
    /// idle clock starts again.
    pub fn get(&self, id: &str, touch: bool) -> Option<Session> {
        let k = key(id);
        let mut m = self.lock();
        let now = Instant::now();
        match m.get_mut(&k) {
            Some(s) if now.duration_since(s.last_seen) < self.idle => {
                if touch {
                    s.last_seen = now;
                }
                Some(s.clone())
            }
            Some(_) => {
                m.remove(&k);
                None
            }
            None => None,
        }
    }

    /// End the session of cookie value `id`; whether there was one.
    pub fn remove(&self, id: &str) -> bool {
        self.lock().remove(&key(id)).is_some()
    }

    /// Live sessions (a gauge).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    use crate::auth::{Kind, Role};

    fn alice() -> Identity {
        Identity {
            name: "alice".into(),
            role: Role::Operator,
            kind: Kind::User,
            addr: None,
        }
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_at_logout() {
        let s = Sessions::new(Duration::from_secs(60));
        let (id, sess) = s.create(alice());
        assert_eq!(s.get(&id, true).map(|x| x.csrf), Some(sess.csrf.clone()));
        assert!(s.get("forged", true).is_none());
        assert!(s.remove(&id));
        assert!(s.get(&id, true).is_none());
    }

    #[test]
    fn an_idle_session_expires() {
        let s = Sessions::new(Duration::from_millis(60));
        let (id, _) = s.create(alice());
        std::thread::sleep(Duration::from_millis(40));
        assert!(s.get(&id, false).is_some(), "still live");
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            s.get(&id, false).is_none(),
            "background refreshes do not keep it alive"
        );
        assert!(s.is_empty());
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
