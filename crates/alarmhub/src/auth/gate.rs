//! [`Auth`]: the one access check. Both the gRPC layer and the HTTP middleware call
//! [`Auth::check`] with the rule of the method or route, the `authorization` header and the
//! client address; it answers with the caller's [`Identity`] or a [`Refusal`], and writes the
//! refusal to the audit trail. [`Auth::login`] is the same for user passwords (the console).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::audit::{fmt_addr, login_record, refusal_record};
use super::cache::Cache;
use super::identity::{Identity, Kind};
use super::limiter::Limiter;
use super::role::{Permission, Role};
use super::secret::{hash_token, verify_password, Sensitive};
use super::store::{AuditRecord, AuthBackend, AuthStoreError};
use super::table::Rule;
use super::unauthenticated::UnauthenticatedRate;
use crate::config::{CompatAnonymous, Config};
use crate::logging::summary::Summary;

/// Audit rows waiting to be written at most; beyond that rows are dropped (and counted) so a
/// flood of refused calls cannot hold up the API.
const AUDIT_QUEUE: usize = 10_000;

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No credentials, or bad ones (gRPC `UNAUTHENTICATED`, HTTP 401).
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Known caller, role too low (gRPC `PERMISSION_DENIED`, HTTP 403).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Too many failed authentications (gRPC `RESOURCE_EXHAUSTED`, HTTP 429).
    #[error("too many failed authentications from {who}; retry in {} s", .retry_after.as_secs())]
    RateLimited {
        /// The address or name that is blocked.
        who: String,
        /// When to try again.
        retry_after: Duration,
    },
}

impl Refusal {
    /// The audit row's outcome.
    pub fn outcome(&self) -> &'static str {
        match self {
            Refusal::Unauthenticated(_) => "unauthenticated",
            Refusal::PermissionDenied(_) => "permission_denied",
            Refusal::RateLimited { .. } => "rate_limited",
        }
    }
}

/// Access control of a running daemon.
pub struct Auth {
    enabled: bool,
    compat_anonymous: CompatAnonymous,
    cache: Cache,
    limiter: Limiter,
    /// Unauthenticated calls per address (`[auth] unauthenticated_per_min`).
    unauthenticated: UnauthenticatedRate,
    /// Refusals of that limit already logged, per address (one line per minute).
    unauthenticated_logged: Summary,
    /// Unix ms, refreshed every second: the "last used" clock, read per call for free.
    coarse_now_ms: AtomicI64,
    audit_tx: Option<mpsc::Sender<AuditRecord>>,
    store: Option<Arc<Mutex<Box<dyn AuthBackend>>>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("enabled", &self.enabled)
            .field("compat_anonymous", &self.compat_anonymous)
            .finish_non_exhaustive()
    }
}

/// `authorization: Bearer TOKEN` → the token; `Err` for any other shape.
pub fn bearer(header: Option<&[u8]>) -> Option<Result<&str, ()>> {
    let h = header?;
    let s = std::str::from_utf8(h).map_err(|_| ());
    Some(s.and_then(|s| {
        let (scheme, token) = s.trim().split_once(' ').ok_or(())?;
        let token = token.trim();
        if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
            Ok(token)
        } else {
            Err(())
        }
    }))
}

impl Auth {
    /// Access control with no store: checks nothing when `enabled` is false, and knows no
    /// token when it is true (tests, tools).
    pub fn detached(enabled: bool, compat_anonymous: CompatAnonymous) -> Auth {
        Auth {
            enabled,
            compat_anonymous,
            cache: Cache::default(),
            limiter: Limiter::default(),
            unauthenticated: UnauthenticatedRate::new(0),
            unauthenticated_logged: Summary::new(Duration::from_secs(60)),
            coarse_now_ms: AtomicI64::new(crate::clock::now_ms()),
            audit_tx: None,
            store: None,
        }
    }

    /// Open the store the configuration names (the shared PostgreSQL database, or SQLite in
    /// the data directory), load the credentials and start the refresher and the audit
    /// writer (both stop with `cancel`).
    pub fn start(config: &Config, cancel: CancellationToken) -> Result<Arc<Auth>, AuthStoreError> {
        let enabled = super::exposure::enabled(config);
        let store = super::store::open_backend(&config.store)?;
        let generation = store.generation()?;
        let (tokens, users) = store.load()?;
        let store = Arc::new(Mutex::new(store));
        let (tx, rx) = mpsc::channel(AUDIT_QUEUE);
        let auth = Arc::new(Auth {
            audit_tx: Some(tx),
            store: Some(Arc::clone(&store)),
            unauthenticated: UnauthenticatedRate::new(config.auth.unauthenticated_per_min),
            ..Auth::detached(enabled, config.auth.compat_anonymous)
        });
        auth.cache.replace(generation, tokens, users);
        tokio::spawn(super::cache::refresh_loop(
            Arc::clone(&auth),
            cancel.clone(),
        ));
        tokio::spawn(super::audit::writer(rx, store, cancel));
        Ok(auth)
    }

    /// Whether callers must authenticate.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The access check. `action` names the call for the audit trail (method path, route).
    pub fn check(
        &self,
        rule: Rule,
        action: &str,
        authorization: Option<&[u8]>,
        addr: Option<SocketAddr>,
    ) -> Result<Identity, Refusal> {
        let presented = bearer(authorization);
        if rule == Rule::Open {
            return Ok(Identity::anonymous(Role::Viewer, addr));
        }
        if !self.enabled {
            // Off: everyone may do everything; a valid token still names the caller.
            let named = match presented {
                Some(Ok(t)) => self.token_identity(t, addr),
                _ => None,
            };
            return Ok(named.unwrap_or_else(|| Identity::anonymous(Role::Admin, addr)));
        }
        let addr_key = addr.map(|a| format!("addr:{}", a.ip()));
        if let Some(key) = &addr_key {
            if let Some(retry_after) = self.limiter.blocked(key, Instant::now()) {
                // Not audited: one row per blocked attempt would let a flood fill the disk.
                metrics::counter!(crate::metrics::names::AUTH_REFUSED_TOTAL, "reason" => "rate_limited")
                    .increment(1);
                return Err(Refusal::RateLimited {
                    who: addr.map_or_else(|| "-".into(), |a| a.ip().to_string()),
                    retry_after,
                });
            }
        }
        let identity = match presented {
            Some(Ok(t)) => self.token_identity(t, addr).ok_or_else(|| {
                if let Some(key) = &addr_key {
                    self.limiter.fail(key, Instant::now());
                }
                Refusal::Unauthenticated(
                    "the token is not valid (unknown, revoked or expired)".into(),
                )
            }),
            Some(Err(())) => {
                if let Some(key) = &addr_key {
                    self.limiter.fail(key, Instant::now());
                }
                Err(Refusal::Unauthenticated(
                    "the authorization header must be `Bearer <token>`".into(),
                ))
            }
            None if rule == Rule::Compat && self.compat_anonymous_allowed(addr) => {
                Ok(Identity::anonymous(Role::Viewer, addr))
            }
            None => Err(Refusal::Unauthenticated(
                "this call needs a token: send `authorization: Bearer <token>` \
                 (CLI: --token or ALARMHUB_TOKEN)"
                    .into(),
            )),
        };
        let identity = match (identity, addr) {
            (Err(Refusal::Unauthenticated(m)), Some(a)) => self
                .unauthenticated_limit(a)
                .map_or(Err(Refusal::Unauthenticated(m)), Err),
            (other, _) => other,
        };
        if let Err(r @ Refusal::RateLimited { .. }) = &identity {
            // Counted, not audited, and logged once per minute per address: a flood of
            // unauthenticated calls must not cost an audit row and a log line each.
            metrics::counter!(crate::metrics::names::AUTH_REFUSED_TOTAL, "reason" => "rate_limited")
                .increment(1);
            let key = addr.map(|a| a.ip().to_string()).unwrap_or_default();
            if let Some(suppressed) = self.unauthenticated_logged.note(&key, Instant::now()) {
                tracing::warn!(action, addr = %fmt_addr(addr), reason = %r, suppressed,
                    "unauthenticated calls refused (then one line per minute)");
            }
            return Err(r.clone());
        }
        let result = identity.and_then(|id| authorize(&id, rule).map(|()| id));
        if let Err(r) = &result {
            metrics::counter!(crate::metrics::names::AUTH_REFUSED_TOTAL, "reason" => r.outcome())
                .increment(1);
            tracing::warn!(action, addr = %fmt_addr(addr), reason = %r, "call refused");
            self.audit(refusal_record(action, addr, r, presented.is_some()));
        }
        result
    }

    /// One unauthenticated call from `addr`: the refusal when the address is over
    /// `[auth] unauthenticated_per_min`.
    fn unauthenticated_limit(&self, addr: SocketAddr) -> Option<Refusal> {
        let retry_after = self.unauthenticated.take(addr.ip(), Instant::now())?;
        Some(Refusal::RateLimited {
            who: addr.ip().to_string(),
            retry_after,
        })
    }

    fn token_identity(&self, token: &str, addr: Option<SocketAddr>) -> Option<Identity> {
        let entry = self.cache.token(&hash_token(token))?;
        if entry
            .expires_at_ms
            .is_some_and(|e| crate::clock::now_ms() >= e)
        {
            return None;
        }
        entry.touch(self.coarse_now_ms.load(Ordering::Relaxed));
        Some(Identity {
            name: entry.name.clone(),
            role: entry.role,
            kind: Kind::Token,
            addr,
        })
    }

    fn compat_anonymous_allowed(&self, addr: Option<SocketAddr>) -> bool {
        match self.compat_anonymous {
            CompatAnonymous::Always => true,
            CompatAnonymous::Never => false,
            CompatAnonymous::Loopback => addr.is_some_and(|a| a.ip().is_loopback()),
        }
    }

    /// Check a user's password (the console's login). Rate-limited per address and per
    /// name; success and failure are audited; the password is never logged.
    pub async fn login(
        &self,
        name: &str,
        password: &Sensitive,
        addr: Option<SocketAddr>,
    ) -> Result<Identity, Refusal> {
        let now = Instant::now();
        let keys: Vec<String> = addr
            .map(|a| format!("addr:{}", a.ip()))
            .into_iter()
            .chain(std::iter::once(format!("user:{name}")))
            .collect();
        for k in &keys {
            if let Some(retry_after) = self.limiter.blocked(k, now) {
                let who = k.split_once(':').map_or(k.as_str(), |(_, w)| w).to_string();
                let r = Refusal::RateLimited { who, retry_after };
                self.audit(login_record(name, addr, None, r.outcome()));
                return Err(r);
            }
        }
        let user = self.cache.user(name);
        let pw = password.clone();
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        // argon2 takes tens of milliseconds on purpose: off the async workers. An unknown
        // user is checked against nothing, but still costs a verification's worth of time.
        let ok = tokio::task::spawn_blocking(move || match stored {
            Some(h) => verify_password(&pw, &h),
            None => {
                let _ = super::secret::hash_password(&Sensitive::new("x".repeat(16)));
                false
            }
        })
        .await
        .unwrap_or(false);
        match user {
            Some(u) if ok && u.disabled => {
                tracing::warn!(user = name, addr = %fmt_addr(addr), "login of a disabled user");
                self.audit(login_record(name, addr, Some(u.role), "disabled"));
                Err(Refusal::Unauthenticated(format!(
                    "the user {name:?} is disabled: ask an administrator"
                )))
            }
            Some(u) if ok => {
                self.limiter.clear(&format!("user:{name}"));
                self.audit(login_record(name, addr, Some(u.role), "ok"));
                if let Some(store) = &self.store {
                    let (store, name) = (Arc::clone(store), name.to_string());
                    let now_ms = crate::clock::now_ms();
                    tokio::task::spawn_blocking(move || {
                        let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
                        if let Err(e) = s.record_login(&name, now_ms) {
                            tracing::warn!(error = %e, "could not record the login time");
                        }
                    });
                }
                Ok(Identity {
                    name: name.to_string(),
                    role: u.role,
                    kind: Kind::User,
                    addr,
                })
            }
            _ => {
                for k in &keys {
                    self.limiter.fail(k, now);
                }
                tracing::warn!(user = name, addr = %fmt_addr(addr), "login failed");
                self.audit(login_record(name, addr, None, "failed"));
                Err(Refusal::Unauthenticated(
                    "wrong user name or password".into(),
                ))
            }
        }
    }

    /// The current role of an enabled user (`None`: unknown or disabled). Console sessions
    /// take the role from here on every request.
    pub fn user_role(&self, name: &str) -> Option<Role> {
        self.cache
            .user(name)
            .filter(|u| !u.disabled)
            .map(|u| u.role)
    }

    /// The store of tokens, users, sessions and audit rows (`None` for [`Auth::detached`]).
    pub fn backend(&self) -> Option<Arc<Mutex<Box<dyn AuthBackend>>>> {
        self.store.clone()
    }

    /// Queue an audit row (dropped, and counted, when the queue is full).
    pub fn audit(&self, row: AuditRecord) {
        let Some(tx) = &self.audit_tx else { return };
        if tx.try_send(row).is_err() {
            metrics::counter!(crate::metrics::names::AUDIT_DROPPED_TOTAL).increment(1);
        }
    }

    /// Reload the cache now if the store changed (the refresher does this every second).
    pub fn refresh(&self) -> Result<(), AuthStoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        self.coarse_now_ms
            .store(crate::clock::now_ms(), Ordering::Relaxed);
        let s = store.lock().unwrap_or_else(|p| p.into_inner());
        let g = s.generation()?;
        if g != self.cache.generation() {
            let (tokens, users) = s.load()?;
            self.cache.replace(g, tokens, users);
            tracing::info!(generation = g, "tokens and users reloaded");
        }
        Ok(())
    }

    pub(super) fn flush_last_used(&self) -> Result<(), AuthStoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let used = self.cache.take_unflushed();
        if used.is_empty() {
            return Ok(());
        }
        store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .touch_tokens(&used)
    }
}

/// Whether `id` may make a call under `rule`.
pub fn authorize(id: &Identity, rule: Rule) -> Result<(), Refusal> {
    let need = match rule {
        Rule::Open => return Ok(()),
        Rule::Compat => Permission::Read,
        Rule::Need(p) => p,
        Rule::Unknown => {
            return Err(Refusal::PermissionDenied(
                "this method is not in the permission table".into(),
            ))
        }
    };
    if id.role.allows(need) {
        Ok(())
    } else {
        Err(Refusal::PermissionDenied(format!(
            "{} may not {} (needs role {})",
            id,
            need.describe(),
            Role::holders(need).join(" or ")
        )))
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
