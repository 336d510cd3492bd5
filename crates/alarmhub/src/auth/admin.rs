//! Changes to users and tokens, shared by the command line (`alarmhub user …`,
//! `alarmhub token …`) and the console's users and tokens pages: the same checks (names,
//! password length, roles, expiry), the same store calls, and an audit row naming the actor
//! for every change made. Secrets never reach a log or an audit row: a new token is
//! returned once, as [`Sensitive`], and only its hash is kept.

use std::net::SocketAddr;

use super::identity::Identity;
use super::role::Role;
use super::secret::{check_name, generate_token, hash_password, hash_token, Sensitive};
use super::store::{AuditRecord, AuthBackend, AuthStoreError, TokenRow, UserRow};

/// Who makes a change, as the audit row names them.
#[derive(Debug, Clone)]
pub struct Actor {
    who: String,
    role: String,
    kind: String,
    addr: String,
}

impl Actor {
    /// The command line, as `cli:<os user>`.
    pub fn cli() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Actor {
            who: format!("cli:{user}"),
            role: "-".into(),
            kind: "local".into(),
            addr: "-".into(),
        }
    }

    /// A logged-in user or a token holder.
    pub fn of(id: &Identity) -> Actor {
        Actor {
            who: id.name.clone(),
            role: id.role.as_str().into(),
            kind: id.kind.as_str().into(),
            addr: id
                .addr
                .map_or_else(|| "-".into(), |a: SocketAddr| a.to_string()),
        }
    }

    /// The audit row of `action` on `target` with `outcome`.
    pub fn row(
        &self,
        action: &str,
        target: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            at_ms: crate::clock::now_ms(),
            who: self.who.clone(),
            role: self.role.clone(),
            kind: self.kind.clone(),
            addr: self.addr.clone(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            detail: detail.to_string(),
            ..AuditRecord::default()
        }
    }
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input (name, password, role, expiry): the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The name is taken.
    #[error("a {what} named {name:?} exists already")]
    Exists {
        /// `user` or `token`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// No such user or token.
    #[error("no {what} named {name:?}")]
    NotFound {
        /// `user` or `token`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] AuthStoreError),
}

impl AdminError {
    /// The audit outcome of a refused change.
    pub fn outcome(&self) -> &'static str {
        match self {
            AdminError::Invalid(_) => "invalid",
            AdminError::Exists { .. } => "exists",
            AdminError::NotFound { .. } => "not_found",
            AdminError::Store(_) => "failed",
        }
    }
}

fn exists_or(e: AuthStoreError) -> AdminError {
    match e {
        AuthStoreError::Exists { what, name } => AdminError::Exists { what, name },
        e => AdminError::Store(e),
    }
}

fn found(yes: bool, what: &'static str, name: &str) -> Result<(), AdminError> {
    if yes {
        Ok(())
    } else {
        Err(AdminError::NotFound {
            what,
            name: name.to_string(),
        })
    }
}

fn audit(s: &mut dyn AuthBackend, row: AuditRecord) {
    if let Err(e) = s.append_audit(&[row]) {
        tracing::warn!(error = %e, "could not write the audit row of a credential change");
    }
}

/// The argon2id hash of a new password, refusing one that is too short (slow on purpose:
/// call it off the async workers).
pub fn new_password_hash(password: &Sensitive) -> Result<String, AdminError> {
    hash_password(password).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// Add a user with `role` and the password hashed by [`new_password_hash`].
pub fn add_user(
    s: &mut dyn AuthBackend,
    actor: &Actor,
    name: &str,
    role: Role,
    password_hash: String,
) -> Result<(), AdminError> {
    check_name("user", name).map_err(AdminError::Invalid)?;
    let row = UserRow {
        name: name.to_string(),
        role,
        password_hash,
        created_at_ms: crate::clock::now_ms(),
        last_login_ms: None,
        disabled: false,
    };
    s.add_user(&row).map_err(exists_or)?;
    let detail = serde_json::json!({ "role": role.as_str() });
    audit(s, actor.row("user.add", name, "ok", detail));
    Ok(())
}

/// Replace a user's password with one hashed by [`new_password_hash`].
pub fn set_password(
    s: &mut dyn AuthBackend,
    actor: &Actor,
    name: &str,
    password_hash: &str,
) -> Result<(), AdminError> {
    found(
        s.set_password(name, password_hash, crate::clock::now_ms())?,
        "user",
        name,
    )?;
    audit(
        s,
        actor.row("user.passwd", name, "ok", serde_json::json!({})),
    );
    Ok(())
}

/// Give a user another role (its console sessions take it on their next request).
pub fn set_role(
    s: &mut dyn AuthBackend,
    actor: &Actor,
    name: &str,
    role: Role,
) -> Result<(), AdminError> {
    found(
        s.set_role(name, role, crate::clock::now_ms())?,
        "user",
        name,
    )?;
    let detail = serde_json::json!({ "role": role.as_str() });
    audit(s, actor.row("user.role", name, "ok", detail));
    Ok(())
}

/// Disable a user (it cannot log in; its sessions end) or enable it again.
pub fn set_disabled(
    s: &mut dyn AuthBackend,
    actor: &Actor,
    name: &str,
    disabled: bool,
) -> Result<(), AdminError> {
    found(
        s.set_disabled(name, disabled, crate::clock::now_ms())?,
        "user",
        name,
    )?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    audit(s, actor.row(action, name, "ok", serde_json::json!({})));
    Ok(())
}

/// Remove a user and its sessions.
pub fn remove_user(s: &mut dyn AuthBackend, actor: &Actor, name: &str) -> Result<(), AdminError> {
    found(s.remove_user(name)?, "user", name)?;
    audit(
        s,
        actor.row("user.remove", name, "ok", serde_json::json!({})),
    );
    Ok(())
}

/// Create a token; the token itself is returned once and only its hash is stored.
/// `expires_at_ms` must lie in the future.
pub fn create_token(
    s: &mut dyn AuthBackend,
    actor: &Actor,
    name: &str,
    role: Role,
    expires_at_ms: Option<i64>,
) -> Result<Sensitive, AdminError> {
    check_name("token", name).map_err(AdminError::Invalid)?;
    let now = crate::clock::now_ms();
    if let Some(e) = expires_at_ms.filter(|e| *e <= now) {
        return Err(AdminError::Invalid(format!(
            "expiry {e} (Unix ms) is not in the future"
        )));
    }
    let token = generate_token();
    let row = TokenRow {
        name: name.to_string(),
        role,
        hash: hash_token(token.expose()),
        created_at_ms: now,
        last_used_ms: None,
        expires_at_ms,
    };
    s.create_token(&row).map_err(exists_or)?;
    let detail = serde_json::json!({ "role": role.as_str(), "expires_at_ms": expires_at_ms });
    audit(s, actor.row("token.create", name, "ok", detail));
    Ok(token)
}

/// Revoke a token (a running daemon refuses it within about a second).
pub fn revoke_token(s: &mut dyn AuthBackend, actor: &Actor, name: &str) -> Result<(), AdminError> {
    found(s.revoke_token(name)?, "token", name)?;
    audit(
        s,
        actor.row("token.revoke", name, "ok", serde_json::json!({})),
    );
    Ok(())
}

/// A duration such as `90d`, `12h`, `30m`: Unix ms that long after `now_ms`.
pub fn expiry_after(s: &str, now_ms: i64) -> Result<i64, AdminError> {
    let bad = || {
        AdminError::Invalid(format!(
            "expiry {s:?}: write a number with a unit, e.g. 30m, 12h, 90d"
        ))
    };
    let t = s.trim();
    let Some((i, _)) = t.char_indices().last() else {
        return Err(bad());
    };
    let (n, unit) = t.split_at(i);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    if n <= 0 || n > 36_500 * 86_400_000 / ms {
        return Err(bad());
    }
    Ok(now_ms + n * ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuditQuery, SqliteAuthStore};

    #[test]
    fn changes_are_checked_stored_and_audited_with_the_actor() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s: Box<dyn AuthBackend> = Box::new(SqliteAuthStore::open(tmp.path()).unwrap());
        let admin = Actor::cli();
        let hash = new_password_hash(&Sensitive::new("a long password 1")).unwrap();
        add_user(s.as_mut(), &admin, "olga", Role::Viewer, hash.clone()).unwrap();
        let e = add_user(s.as_mut(), &admin, "olga", Role::Viewer, hash).unwrap_err();
        assert!(matches!(e, AdminError::Exists { .. }), "{e}");
        assert!(new_password_hash(&Sensitive::new("short")).is_err());
        set_role(s.as_mut(), &admin, "olga", Role::Operator).unwrap();
        set_disabled(s.as_mut(), &admin, "olga", true).unwrap();
        let e = set_role(s.as_mut(), &admin, "nobody", Role::Admin).unwrap_err();
        assert!(matches!(e, AdminError::NotFound { .. }), "{e}");
        let users = s.load().unwrap().1;
        assert_eq!((users[0].role, users[0].disabled), (Role::Operator, true));
        let now = crate::clock::now_ms();
        assert!(create_token(s.as_mut(), &admin, "app", Role::Viewer, Some(now - 1)).is_err());
        let t = create_token(s.as_mut(), &admin, "app", Role::Viewer, Some(now + 60_000)).unwrap();
        let rows = s.query_audit(&AuditQuery::default()).unwrap();
        let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            ["token.create", "user.disable", "user.role", "user.add"]
        );
        assert!(rows.iter().all(|r| !r.detail.contains(t.expose())));
        assert_eq!(s.load().unwrap().0[0].expires_at_ms, Some(now + 60_000));
    }

    #[test]
    fn expiry_durations() {
        assert_eq!(expiry_after("30m", 0).unwrap(), 1_800_000);
        assert_eq!(expiry_after("2d", 5).unwrap(), 5 + 172_800_000);
        for bad in ["", "d", "0d", "-1h", "5y", "1.5h", "99999999d"] {
            assert!(expiry_after(bad, 0).is_err(), "{bad}");
        }
    }
}
