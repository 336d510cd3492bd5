//! The commands area: remote control through the node that holds the panel.
//!
//! The node a command reaches (any node: the API is the same everywhere) finds no local
//! connection for the panel and calls [`route`]: it looks up the panel's owner (a node with
//! a live lease in `ah_panel_owners`), inserts a command row for it and `NOTIFY`s
//! `alarmhub_commands`. The owner's inbox ([`take`], woken by the notification or its
//! 200 ms poll) claims its rows, sends each to the panel over its local connection and
//! writes the outcome back ([`finish`]). The issuer polls the row every 100 ms until the
//! outcome is there, then deletes it (the row holds a disarm password only that long).
//!
//! It never hangs: if the owner's lease expires before it answers, the command is handed to
//! the panel's new owner (a panel that reconnected elsewhere) or ends `panel_offline`; and
//! every wait ends at the caller's deadline with `timed_out`. No row outlives its issuer:
//! the owner clears a disarm's password when it writes the outcome, the issuer deletes the
//! row on every way out, and every node's lease task ([`sweep`]) deletes the rows of an
//! issuer whose lease expired (killed while it waited) and any row well past its deadline. A command the dead node had
//! already sent may then reach the panel twice (arming twice is harmless; the audit trail
//! keeps both attempts' outcome once, from the issuer).

use std::time::{Duration, Instant};

use panel_proto::build::Command;
use panel_proto::link::Outcome;

use super::connect::Target;
use crate::store::{RoutedCommand, StoreError};

/// The NOTIFY channel that wakes owners' inboxes.
pub(crate) const COMMANDS_CHANNEL: &str = "alarmhub_commands";
/// How often the issuer looks at its command row.
const POLL: Duration = Duration::from_millis(100);

/// The live owner of `account` other than nobody.
async fn owner(
    c: &tokio_postgres::Client,
    t: &Target,
    account: &str,
) -> Result<Option<String>, StoreError> {
    let row = c
        .query_opt(
            "SELECT o.node_id FROM ah_panel_owners o JOIN ah_nodes n USING (node_id) \
             WHERE o.account = $1 AND n.lease_until > now()",
            &[&account],
        )
        .await
        .map_err(t.err("find the panel's node"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Send `cmd` through the node holding the panel and wait (at most `wait`) for its outcome.
pub(crate) async fn route(
    c: &tokio_postgres::Client,
    t: &Target,
    me: &str,
    cmd: &RoutedCommand,
    wait: Duration,
) -> Result<Outcome, StoreError> {
    let deadline = Instant::now() + wait;
    let Some(node) = owner(c, t, &cmd.account).await? else {
        return Ok(Outcome::PanelOffline);
    };
    if node == me {
        // The registry says this node holds it, but the connection is gone.
        return Ok(Outcome::PanelOffline);
    }
    let err = t.err("route a command");
    let password = match &cmd.command {
        Command::Disarm { password } => Some(password.as_str()),
        _ => None,
    };
    let section = i16::from(cmd.section);
    let ademco = cmd.ademco_id.map(i64::from);
    let wait_ms = wait.as_millis() as f64;
    let id: i64 = c
        .query_one(
            "INSERT INTO ah_commands \
               (account, node_id, action, section, password, ademco_id, issuer, deadline) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 millisecond') \
             RETURNING id",
            &[
                &cmd.account,
                &node,
                &cmd.command.name(),
                &section,
                &password,
                &ademco,
                &me,
                &wait_ms,
            ],
        )
        .await
        .map_err(&err)?
        .get(0);
    let outcome = wait_for(c, t, me, cmd, id, node, deadline).await;
    // Whatever happened, the row (and a disarm's password) goes now; if even this fails,
    // the lease sweep ([`sweep`]) removes it after its deadline.
    let deleted = c
        .execute("DELETE FROM ah_commands WHERE id = $1", &[&id])
        .await
        .map_err(&err);
    let outcome = outcome?;
    deleted?;
    Ok(outcome)
}

/// Notify the owner, then wait for the outcome of command `id` (retrying it on the panel's
/// new node when its node dies) until `deadline`.
async fn wait_for(
    c: &tokio_postgres::Client,
    t: &Target,
    me: &str,
    cmd: &RoutedCommand,
    id: i64,
    mut node: String,
    deadline: Instant,
) -> Result<Outcome, StoreError> {
    let err = t.err("route a command");
    notify(c, t, &node).await?;
    tracing::info!(account = %cmd.account, node = %node, command = cmd.command.name(), "command routed to the panel's node");
    loop {
        if Instant::now() >= deadline {
            return Ok(Outcome::TimedOut);
        }
        tokio::time::sleep(POLL).await;
        let row = c
            .query_opt(
                "SELECT c.state, c.outcome, c.message, \
                 EXISTS (SELECT 1 FROM ah_nodes n WHERE n.node_id = c.node_id AND n.lease_until > now()) \
                 FROM ah_commands c WHERE c.id = $1",
                &[&id],
            )
            .await
            .map_err(&err)?;
        let Some(row) = row else {
            // Swept: this node's own lease had lapsed.
            return Ok(Outcome::PanelOffline);
        };
        let state: &str = row.get(0);
        if state == "done" {
            return Ok(parse_outcome(row.get(1), row.get(2)));
        }
        let alive: bool = row.get(3);
        if alive {
            continue;
        }
        // The owner died before answering: the panel's new node, or offline.
        match owner(c, t, &cmd.account).await? {
            Some(next) if next != node && next != me => {
                tracing::warn!(account = %cmd.account, dead = %node, node = %next,
                    "the panel's node died; the command is retried on its new node");
                c.execute(
                    "UPDATE ah_commands SET node_id = $2, state = 'pending' WHERE id = $1",
                    &[&id, &next],
                )
                .await
                .map_err(&err)?;
                notify(c, t, &next).await?;
                node = next;
            }
            Some(next) if next == node => {}
            _ => return Ok(Outcome::PanelOffline),
        }
    }
}

/// Remove the command rows nobody waits for any more: those whose issuing node's lease
/// expired (a node killed while it waited: its disarm password must not stay behind) and
/// those well past their deadline (an issuer that could not delete its row). Run by every
/// node's lease task; the number removed.
pub(crate) async fn sweep(c: &tokio_postgres::Client, t: &Target) -> Result<u64, StoreError> {
    c.execute(
        "DELETE FROM ah_commands c WHERE \
           (c.issuer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ah_nodes n \
              WHERE n.node_id = c.issuer AND n.lease_until > now())) \
           OR c.deadline < now() - interval '30 seconds'",
        &[],
    )
    .await
    .map_err(t.err("sweep routed commands"))
}

async fn notify(c: &tokio_postgres::Client, t: &Target, node: &str) -> Result<(), StoreError> {
    c.execute("SELECT pg_notify($1, $2)", &[&COMMANDS_CHANNEL, &node])
        .await
        .map_err(t.err("route a command"))?;
    Ok(())
}

/// Claim the commands waiting for this node.
pub(crate) async fn take(
    c: &tokio_postgres::Client,
    t: &Target,
    me: &str,
) -> Result<Vec<(i64, RoutedCommand)>, StoreError> {
    let rows = c
        .query(
            "UPDATE ah_commands SET state = 'taken' WHERE id IN ( \
               SELECT id FROM ah_commands WHERE node_id = $1 AND state = 'pending' \
               ORDER BY id FOR UPDATE SKIP LOCKED) \
             RETURNING id, account, action, section, password, ademco_id",
            &[&me],
        )
        .await
        .map_err(t.err("take routed commands"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.get(0);
        let action: &str = r.get(2);
        let Some(mut command) = Command::from_name(action) else {
            finish(
                c,
                t,
                id,
                &Outcome::BadRequest(format!("unknown command {action:?}")),
            )
            .await?;
            continue;
        };
        if let Command::Disarm { password } = &mut command {
            *password = r.get::<_, Option<String>>(4).unwrap_or_default();
        }
        let section: i16 = r.get(3);
        let ademco: Option<i64> = r.get(5);
        out.push((
            id,
            RoutedCommand {
                account: r.get(1),
                command,
                section: u8::try_from(section).unwrap_or(u8::MAX),
                ademco_id: ademco.and_then(|a| u32::try_from(a).ok()),
            },
        ));
    }
    Ok(out)
}

/// Write a routed command's outcome back (and forget its password).
pub(crate) async fn finish(
    c: &tokio_postgres::Client,
    t: &Target,
    id: i64,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE ah_commands SET state = 'done', outcome = $2, message = $3, password = NULL \
         WHERE id = $1",
        &[&id, &outcome.as_str(), &outcome.message()],
    )
    .await
    .map_err(t.err("answer a routed command"))?;
    Ok(())
}

fn parse_outcome(name: Option<&str>, message: Option<String>) -> Outcome {
    let message = message.unwrap_or_default();
    match name {
        Some("done") => Outcome::Done,
        Some("timed_out") => Outcome::TimedOut,
        Some("not_supported") => Outcome::NotSupported(message),
        Some("bad_request") => Outcome::BadRequest(message),
        _ => Outcome::PanelOffline,
    }
}
