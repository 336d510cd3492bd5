//! `ListMachines` and `GetMachine`: the registry's live panel state, filtered and paged by
//! account. The page token is `m:<last account of the page>`; the next page starts after it,
//! so panels appearing between calls never shift a page.

use std::cell::RefCell;

use tonic::Status;

use super::{convert, page_size, Ctx};
use crate::proto::v1 as pb;
use crate::registry::PanelState;

/// Prefix that marks a machines page token.
const TOKEN_PREFIX: &str = "m:";

/// The filters of a `ListMachinesRequest`.
struct Filter<'a> {
    online: Option<bool>,
    status: Option<i32>,
    machine_type: Option<i32>,
    prefix: &'a str,
    changed_only: bool,
}

impl Filter<'_> {
    fn matches(&self, p: &PanelState) -> bool {
        self.online.is_none_or(|o| p.online == o)
            && self.status.is_none_or(|s| p.host_status() == s)
            && self.machine_type.is_none_or(|t| p.machine_type == t)
            && p.account.starts_with(self.prefix)
            && (!self.changed_only || p.changed())
    }
}

/// The account a page token continues after.
fn parse_token(token: &str) -> Result<Option<&str>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    token
        .strip_prefix(TOKEN_PREFIX)
        .filter(|a| !a.is_empty())
        .map(Some)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "page_token {token:?} is not a ListMachines token (pass next_page_token back unchanged)"
            ))
        })
}

/// One panel as the API shows it. `unknown_account` is "reported while not configured and
/// still not configured": the registry's flag comes from stored events and stays set, while
/// the account may have been adopted since — through this node, or through another node of
/// a cluster (the accounts table is shared; the registry flag is per node and is only
/// cleared where the adoption ran). The live accounts are the truth on every node.
fn machine(ctx: &Ctx, p: &PanelState) -> pb::Machine {
    let mut m = convert::machine(p);
    if m.unknown_account && ctx.h.config.account(&p.account).is_some() {
        m.unknown_account = false;
    }
    m
}

/// `ListMachines`.
pub(crate) fn list(
    ctx: &Ctx,
    req: &pb::ListMachinesRequest,
) -> Result<pb::ListMachinesReply, Status> {
    let size = page_size(req.page_size)?;
    let after = parse_token(&req.page_token)?;
    let filter = Filter {
        online: req.online,
        status: req.status,
        machine_type: req.r#type,
        prefix: &req.account_prefix,
        changed_only: req.changed_since_sync,
    };
    // One pass under the registry's read lock collects only the matching accounts (cheap
    // strings, no state copies); full state is then copied for one page only.
    let total = RefCell::new(0usize);
    let accounts = RefCell::new(Vec::new());
    ctx.h.registry.list(|p| {
        if filter.matches(p) {
            *total.borrow_mut() += 1;
            if after.is_none_or(|a| p.account.as_str() > a) {
                accounts.borrow_mut().push(p.account.clone());
            }
        }
        false
    });
    let mut accounts = accounts.into_inner();
    let more = accounts.len() > size;
    if more {
        accounts.select_nth_unstable(size);
        accounts.truncate(size);
    }
    accounts.sort_unstable();
    let machines: Vec<pb::Machine> = accounts
        .iter()
        .filter_map(|a| ctx.h.registry.get(a))
        .map(|p| machine(ctx, &p))
        .collect();
    let next_page_token = match (more, accounts.last()) {
        (true, Some(last)) => format!("{TOKEN_PREFIX}{last}"),
        _ => String::new(),
    };
    Ok(pb::ListMachinesReply {
        machines,
        next_page_token,
        total: i32::try_from(total.into_inner()).unwrap_or(i32::MAX),
    })
}

/// `GetMachine`.
pub(crate) fn get(ctx: &Ctx, req: &pb::GetMachineRequest) -> Result<pb::Machine, Status> {
    if req.account.is_empty() {
        return Err(Status::invalid_argument("account is empty"));
    }
    ctx.h
        .registry
        .get(&req.account)
        .map(|p| machine(ctx, &p))
        .ok_or_else(|| Status::not_found(format!("no panel with account {:?}", req.account)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_foreign_tokens_are_refused() {
        assert_eq!(parse_token("").unwrap(), None);
        assert_eq!(parse_token("m:1234").unwrap(), Some("1234"));
        for bad in ["1234", "e:5", "m:"] {
            let e = parse_token(bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.message().contains("page_token"));
        }
    }

    #[test]
    fn filters_combine_with_and() {
        let mut p = PanelState::new("8612");
        p.online = true;
        p.machine_type = 4;
        p.status[0] = 2;
        let all = Filter {
            online: None,
            status: None,
            machine_type: None,
            prefix: "",
            changed_only: false,
        };
        assert!(all.matches(&p));
        let f = Filter {
            online: Some(true),
            status: Some(2),
            machine_type: Some(4),
            prefix: "86",
            changed_only: false,
        };
        assert!(f.matches(&p));
        assert!(!Filter { prefix: "87", ..f }.matches(&p));
        assert!(!Filter {
            online: Some(false),
            ..f
        }
        .matches(&p));
        assert!(!Filter {
            status: Some(0),
            ..f
        }
        .matches(&p));
    }
}
