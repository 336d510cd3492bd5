//! The daemon's in-memory copy of tokens and users, so checking a call costs one SHA-256 and
//! one hash-map lookup. A refresher reloads it from the store whenever the store's
//! generation moved (polled every second: a new or revoked token takes effect within ~1 s),
//! and writes the tokens' "last used" times back in one batch every [`FLUSH_EVERY`] polls
//! instead of one write per call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::gate::Auth;
use super::role::Role;
use super::secret::TokenHash;
use super::store::AuthStoreError;
use super::store::{TokenRow, UserRow};

/// Polls between two writes of "last used" times.
pub const FLUSH_EVERY: u32 = 10;

/// One token in the cache.
#[derive(Debug)]
pub struct TokenEntry {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Unix ms after which it is refused.
    pub expires_at_ms: Option<i64>,
    /// Last use seen by this process (Unix ms, whole seconds).
    last_used: AtomicI64,
    /// Last use already written to the store.
    flushed: AtomicI64,
}

impl TokenEntry {
    /// Note a use at `now_ms`; a store only when the second changed, so a busy token does
    /// not bounce a cache line between cores on every call.
    pub fn touch(&self, now_ms: i64) {
        if self.last_used.load(Ordering::Relaxed) != now_ms {
            self.last_used.store(now_ms, Ordering::Relaxed);
        }
    }
}

/// One user in the cache.
#[derive(Debug, Clone)]
pub struct UserEntry {
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// It may not log in, and its sessions are refused.
    pub disabled: bool,
}

/// Tokens by hash and users by name.
#[derive(Debug, Default)]
pub struct Creds {
    tokens: HashMap<TokenHash, Arc<TokenEntry>>,
    users: HashMap<String, UserEntry>,
}

/// The swappable cache.
#[derive(Debug, Default)]
pub struct Cache {
    creds: RwLock<Arc<Creds>>,
    generation: AtomicI64,
}

impl Cache {
    fn current(&self) -> Arc<Creds> {
        Arc::clone(&self.creds.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The token with this hash.
    pub fn token(&self, hash: &TokenHash) -> Option<Arc<TokenEntry>> {
        let creds = self.creds.read().unwrap_or_else(|p| p.into_inner());
        creds.tokens.get(hash).cloned()
    }

    /// The user with this name.
    pub fn user(&self, name: &str) -> Option<UserEntry> {
        self.current().users.get(name).cloned()
    }

    /// The generation the cache was loaded at (`-1` before the first load).
    pub fn generation(&self) -> i64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replace the contents, keeping the use times seen in memory for tokens that stay.
    pub fn replace(&self, generation: i64, tokens: Vec<TokenRow>, users: Vec<UserRow>) {
        let old = self.current();
        let by_name: HashMap<&str, &Arc<TokenEntry>> =
            old.tokens.values().map(|t| (t.name.as_str(), t)).collect();
        let tokens = tokens
            .into_iter()
            .map(|t| {
                let stored = t.last_used_ms.unwrap_or(0);
                let (seen, flushed) = by_name.get(t.name.as_str()).map_or((stored, stored), |o| {
                    (
                        o.last_used.load(Ordering::Relaxed).max(stored),
                        o.flushed.load(Ordering::Relaxed).max(stored),
                    )
                });
                let entry = TokenEntry {
                    name: t.name,
                    role: t.role,
                    expires_at_ms: t.expires_at_ms,
                    last_used: AtomicI64::new(seen),
                    flushed: AtomicI64::new(flushed),
                };
                (t.hash, Arc::new(entry))
            })
            .collect();
        let users = users
            .into_iter()
            .map(|u| {
                (
                    u.name,
                    UserEntry {
                        role: u.role,
                        password_hash: u.password_hash,
                        disabled: u.disabled,
                    },
                )
            })
            .collect();
        *self.creds.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Creds { tokens, users });
        self.generation.store(generation, Ordering::Release);
    }

    /// Tokens used since their last flush, marked flushed (the caller writes them).
    pub fn take_unflushed(&self) -> Vec<(String, i64)> {
        let creds = self.current();
        let mut out = Vec::new();
        for t in creds.tokens.values() {
            let seen = t.last_used.load(Ordering::Relaxed);
            if seen > t.flushed.swap(seen, Ordering::Relaxed) {
                out.push((t.name.clone(), seen));
            }
        }
        out
    }
}

/// Reload the cache every second when the store changed, and write "last used" times
/// every [`FLUSH_EVERY`] polls, until `cancel` (then a last flush).
pub(super) async fn refresh_loop(auth: Arc<Auth>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        n = n.wrapping_add(1);
        let a = Arc::clone(&auth);
        let flush = n % FLUSH_EVERY == 0;
        let r = tokio::task::spawn_blocking(move || {
            a.refresh()?;
            if flush {
                a.flush_last_used()?;
            }
            Ok::<(), AuthStoreError>(())
        })
        .await;
        if let Ok(Err(e)) = r {
            tracing::warn!(error = %e, "refreshing tokens and users failed; keeping the last ones");
        }
    }
    let a = Arc::clone(&auth);
    let _ = tokio::task::spawn_blocking(move || a.flush_last_used()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::secret::hash_token;

    fn row(name: &str, token: &str) -> TokenRow {
        TokenRow {
            name: name.into(),
            role: Role::Viewer,
            hash: hash_token(token),
            created_at_ms: 0,
            last_used_ms: None,
            expires_at_ms: None,
        }
    }

    #[test]
    fn uses_are_flushed_once_and_survive_a_reload() {
        let c = Cache::default();
        c.replace(1, vec![row("a", "ta"), row("b", "tb")], vec![]);
        c.token(&hash_token("ta")).unwrap().touch(5000);
        assert_eq!(c.take_unflushed(), vec![("a".to_string(), 5000)]);
        assert!(c.take_unflushed().is_empty());
        c.token(&hash_token("ta")).unwrap().touch(6000);
        c.replace(2, vec![row("a", "ta")], vec![]);
        assert_eq!(c.take_unflushed(), vec![("a".to_string(), 6000)]);
        assert!(c.token(&hash_token("tb")).is_none(), "b was revoked");
        assert_eq!(c.generation(), 2);
    }
}
