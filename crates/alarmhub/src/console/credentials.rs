//! The users and tokens pages (admins, `Permission::ManageCredentials` in the one table):
//! list, and create user, change role, disable / enable, reset password, create token (the
//! secret is in that one answer, never again), revoke token. Every change runs the same
//! [`crate::auth::admin`] function as `alarmhub user …` / `alarmhub token …`, is audited
//! with the logged-in actor (refused changes too), and takes effect at once (the access
//! cache is reloaded before the answer). Passwords and tokens are never logged.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::api::Answer;
use super::session::Session;
use super::{ConsoleError, ConsoleState};
use crate::auth::admin::{self as ops, Actor, AdminError};
use crate::auth::store::{TokenRow, UserRow};
use crate::auth::{AuthBackend, Role, Sensitive};

/// Run `f` on the store off the async workers, as the session's user; audit a refusal;
/// reload the access cache after a change.
async fn apply<T: Send + 'static>(
    c: &ConsoleState,
    s: &Session,
    action: &'static str,
    target: &str,
    f: impl FnOnce(&mut dyn AuthBackend, &Actor) -> Result<T, AdminError> + Send + 'static,
) -> Result<T, ConsoleError> {
    let store = c.auth.backend().ok_or_else(|| {
        ConsoleError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "users and tokens need the store, and this process has none",
        )
    })?;
    let actor = Actor::of(&s.identity);
    let (auth, who) = (std::sync::Arc::clone(&c.auth), actor.clone());
    let r = tokio::task::spawn_blocking(move || {
        let r = {
            let mut st = store.lock().unwrap_or_else(|p| p.into_inner());
            f(st.as_mut(), &who)
        };
        if r.is_ok() {
            if let Err(e) = auth.refresh() {
                tracing::warn!(error = %e, "reloading tokens and users failed");
            }
        }
        r
    })
    .await
    .map_err(|e| ConsoleError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    r.map_err(|e| {
        let detail = json!({ "reason": e.to_string() });
        c.auth.audit(actor.row(action, target, e.outcome(), detail));
        let status = match &e {
            AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
            AdminError::Exists { .. } => StatusCode::CONFLICT,
            AdminError::NotFound { .. } => StatusCode::NOT_FOUND,
            AdminError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ConsoleError::new(status, e.to_string())
    })
}

fn role(field: &str, s: &str) -> Result<Role, AdminError> {
    s.trim()
        .parse()
        .map_err(|e: String| AdminError::Invalid(format!("{field}: {e}")))
}

/// An administrator may not lock themselves out (another administrator can).
fn not_self(s: &Session, name: &str, what: &str) -> Result<(), AdminError> {
    if s.identity.name == name {
        return Err(AdminError::Invalid(format!(
            "you cannot {what} your own user; ask another administrator"
        )));
    }
    Ok(())
}

async fn rows(c: &ConsoleState) -> Result<(Vec<TokenRow>, Vec<UserRow>), ConsoleError> {
    let store = c.auth.backend().ok_or_else(|| {
        ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, "this process has no store")
    })?;
    tokio::task::spawn_blocking(move || store.lock().unwrap_or_else(|p| p.into_inner()).load())
        .await
        .map_err(|e| ConsoleError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ConsoleError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

/// `GET /console/api/users`: names, roles, creation, last login, disabled; never a hash.
pub async fn users(State(c): State<ConsoleState>) -> Answer {
    let (_, users) = rows(&c).await?;
    Ok(Json(json!({ "users": users.iter().map(|u| json!({
        "name": u.name, "role": u.role.as_str(), "disabled": u.disabled,
        "created_at_ms": u.created_at_ms, "last_login_ms": u.last_login_ms,
    })).collect::<Vec<_>>() })))
}

/// `GET /console/api/tokens`: names, roles, creation, last use, expiry; never a token.
pub async fn tokens(State(c): State<ConsoleState>) -> Answer {
    let (tokens, _) = rows(&c).await?;
    Ok(Json(json!({ "tokens": tokens.iter().map(|t| json!({
        "name": t.name, "role": t.role.as_str(), "expires_at_ms": t.expires_at_ms,
        "created_at_ms": t.created_at_ms, "last_used_ms": t.last_used_ms,
    })).collect::<Vec<_>>() })))
}

/// `POST /console/api/users` body.
#[derive(Deserialize)]
pub struct NewUser {
    name: String,
    role: String,
    password: String,
}

/// `POST /console/api/users`: add a user.
pub async fn create_user(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Json(b): Json<NewUser>,
) -> Answer {
    let name = b.name.trim().to_string();
    let pw = Sensitive::new(b.password);
    let (n, r) = (name.clone(), b.role);
    apply(&c, &s, "user.add", &name, move |st, actor| {
        let role = role("role", &r)?;
        crate::auth::secret::check_name("user", &n).map_err(AdminError::Invalid)?;
        let hash = ops::new_password_hash(&pw)?;
        ops::add_user(st, actor, &n, role, hash)
    })
    .await?;
    Ok(Json(json!({ "ok": true, "name": name })))
}

/// `POST /console/api/users/{name}/role` body.
#[derive(Deserialize)]
pub struct RoleBody {
    role: String,
}

/// `POST /console/api/users/{name}/role`: give a user another role.
pub async fn set_role(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(name): Path<String>,
    Json(b): Json<RoleBody>,
) -> Answer {
    let (n, me) = (name.clone(), s.clone());
    apply(&c, &s, "user.role", &name, move |st, actor| {
        let role = role("role", &b.role)?;
        not_self(&me, &n, "change the role of")?;
        ops::set_role(st, actor, &n, role)
    })
    .await?;
    Ok(Json(json!({ "ok": true })))
}

/// `POST /console/api/users/{name}/disable`.
pub async fn disable(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(name): Path<String>,
) -> Answer {
    let (n, me) = (name.clone(), s.clone());
    apply(&c, &s, "user.disable", &name, move |st, actor| {
        not_self(&me, &n, "disable")?;
        ops::set_disabled(st, actor, &n, true)
    })
    .await?;
    Ok(Json(json!({ "ok": true })))
}

/// `POST /console/api/users/{name}/enable`.
pub async fn enable(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(name): Path<String>,
) -> Answer {
    let n = name.clone();
    apply(&c, &s, "user.enable", &name, move |st, actor| {
        ops::set_disabled(st, actor, &n, false)
    })
    .await?;
    Ok(Json(json!({ "ok": true })))
}

/// `POST /console/api/users/{name}/password` body.
#[derive(Deserialize)]
pub struct PasswordBody {
    password: String,
}

/// `POST /console/api/users/{name}/password`: reset a user's password.
pub async fn set_password(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(name): Path<String>,
    Json(b): Json<PasswordBody>,
) -> Answer {
    let pw = Sensitive::new(b.password);
    let n = name.clone();
    apply(&c, &s, "user.passwd", &name, move |st, actor| {
        let hash = ops::new_password_hash(&pw)?;
        ops::set_password(st, actor, &n, &hash)
    })
    .await?;
    Ok(Json(json!({ "ok": true })))
}

/// `POST /console/api/tokens` body: `expires` is a duration (`30m`, `12h`, `90d`) or empty.
#[derive(Deserialize)]
pub struct NewToken {
    name: String,
    role: String,
    #[serde(default)]
    expires: String,
}

/// `POST /console/api/tokens`: create a token; the answer carries it, once.
pub async fn create_token(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Json(b): Json<NewToken>,
) -> Answer {
    let name = b.name.trim().to_string();
    let n = name.clone();
    let token = apply(&c, &s, "token.create", &name, move |st, actor| {
        let role = role("role", &b.role)?;
        let now = crate::clock::now_ms();
        let expires = match b.expires.trim() {
            "" => None,
            e => Some(ops::expiry_after(e, now)?),
        };
        let t = ops::create_token(st, actor, &n, role, expires)?;
        Ok((t, expires))
    })
    .await?;
    let (token, expires) = token;
    Ok(Json(json!({
        "name": name,
        "token": token.expose(),
        "expires_at_ms": expires,
    })))
}

/// `POST /console/api/tokens/{name}/revoke`.
pub async fn revoke_token(
    State(c): State<ConsoleState>,
    Extension(s): Extension<Session>,
    Path(name): Path<String>,
) -> Answer {
    let n = name.clone();
    apply(&c, &s, "token.revoke", &name, move |st, actor| {
        ops::revoke_token(st, actor, &n)
    })
    .await?;
    Ok(Json(json!({ "ok": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_parsed_with_the_field_named() {
        assert_eq!(role("role", " admin ").unwrap(), Role::Admin);
        let e = role("role", "root").unwrap_err().to_string();
        assert!(e.contains("role") && e.contains("root"), "{e}");
    }
}
