//! `ListAccounts`, `GetAccount`, `PutAccount`, `RemoveAccount`: panel accounts at runtime.
//! A change is checked like a `[[accounts]]` entry, stored, then put live (the panel's next
//! frame uses it; [`crate::accounts`]). Replies and audit rows never carry a secret.

use serde_json::{Map, Value};
use tonic::Status;

use super::Ctx;
use crate::accounts::{self, AccountError, LiveAccounts};
use crate::config::AccountConfig;
use crate::proto::v1 as pb;

fn live(ctx: &Ctx) -> Result<&LiveAccounts, Status> {
    ctx.h
        .config
        .live_accounts()
        .map(|l| l.as_ref())
        .ok_or_else(|| Status::unavailable("accounts are not loaded"))
}

fn status(e: AccountError) -> Status {
    match e {
        AccountError::Invalid { .. } => Status::invalid_argument(e.to_string()),
        AccountError::Exists(_) => Status::already_exists(e.to_string()),
        AccountError::NotFound(_) => Status::not_found(e.to_string()),
        AccountError::Store(s) => Status::unavailable(format!("store: {s}")),
    }
}

fn reply(a: &AccountConfig) -> pb::Account {
    pb::Account {
        account: a.account.clone(),
        settings_json: accounts::public_view(a).to_string(),
    }
}

/// `ListAccounts`.
pub(crate) fn list(ctx: &Ctx) -> Result<pb::ListAccountsReply, Status> {
    Ok(pb::ListAccountsReply {
        accounts: live(ctx)?.all().iter().map(|a| reply(a)).collect(),
    })
}

/// `GetAccount`.
pub(crate) fn get(ctx: &Ctx, req: &pb::GetAccountRequest) -> Result<pb::Account, Status> {
    live(ctx)?
        .get(&req.account)
        .map(|a| reply(&a))
        .ok_or_else(|| status(AccountError::NotFound(req.account.clone())))
}

/// The settings after applying `patch` (null removes a field) to `current`.
fn merged(
    account: &str,
    current: Option<&AccountConfig>,
    patch: &str,
) -> Result<AccountConfig, AccountError> {
    let invalid = |message: String| AccountError::Invalid {
        account: account.to_string(),
        message,
    };
    let mut base = match current {
        Some(a) => serde_json::to_value(a).map_err(|e| invalid(e.to_string()))?,
        None => Value::Object(Map::new()),
    };
    let patch: Value = if patch.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(patch).map_err(|e| invalid(format!("settings_json: {e}")))?
    };
    let (Value::Object(base_map), Value::Object(patch_map)) = (&mut base, patch) else {
        return Err(invalid("settings_json must be a JSON object".into()));
    };
    for (k, v) in patch_map {
        if v.is_null() {
            base_map.remove(&k);
        } else {
            base_map.insert(k, v);
        }
    }
    // The account itself is the request's (a rename is remove + add).
    base_map.insert("account".into(), Value::String(account.to_string()));
    accounts::from_json(base)
}

/// `PutAccount`: the stored account, and the audit note (the fields changed, never values
/// of secrets).
pub(crate) async fn put(
    ctx: &Ctx,
    req: pb::PutAccountRequest,
) -> Result<(pb::Account, String), Status> {
    let live = live(ctx)?;
    let current = live.get(&req.account);
    match (req.create, &current) {
        (true, Some(_)) => return Err(status(AccountError::Exists(req.account))),
        (false, None) => return Err(status(AccountError::NotFound(req.account))),
        _ => {}
    }
    let account = req.account.clone();
    let a = merged(&account, current.as_deref(), &req.settings_json).map_err(status)?;
    let json = accounts::to_json(&a).map_err(status)?;
    ctx.h
        .store
        .put_account(&a.account, &json)
        .await
        .map_err(|e| status(AccountError::Store(e)))?;
    let fields: Vec<String> = serde_json::from_str::<Map<String, Value>>(&req.settings_json)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    tracing::info!(account = %a.account, fields = ?fields, created = req.create, "panel account stored");
    live.upsert(a.clone());
    let adopted = ctx.h.registry.adopt(&a.account);
    let detail = serde_json::json!({ "created": req.create, "adopted": adopted, "fields": fields })
        .to_string();
    Ok((reply(&a), detail))
}

/// `RemoveAccount`: the panel then follows the unknown-account policy.
pub(crate) async fn remove(ctx: &Ctx, req: &pb::RemoveAccountRequest) -> Result<(), Status> {
    let live = live(ctx)?;
    if live.get(&req.account).is_none() {
        return Err(status(AccountError::NotFound(req.account.clone())));
    }
    ctx.h
        .store
        .remove_account(&req.account)
        .await
        .map_err(|e| status(AccountError::Store(e)))?;
    live.remove(&req.account);
    tracing::info!(account = %req.account, "panel account removed");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_patch_sets_and_removes_fields_and_keeps_the_rest() {
        let cur = accounts::from_json(serde_json::json!({
            "account": "A1", "name": "Shop", "password": "123456", "supervision_secs": 60
        }))
        .unwrap();
        let a = merged(
            "A1",
            Some(&cur),
            r#"{"name": null, "supervision_secs": 90}"#,
        )
        .unwrap();
        assert_eq!(a.name, None);
        assert_eq!(a.supervision_secs, Some(90));
        assert_eq!(a.password, cur.password, "secrets not named stay");
        let e = merged("A1", Some(&cur), "[1]").unwrap_err().to_string();
        assert!(e.contains("JSON object"), "{e}");
        let e = merged("A1", None, r#"{"quirks": ["nope"]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("quirks") || e.contains("nope"), "{e}");
    }
}
