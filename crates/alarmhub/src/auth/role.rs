//! Roles and permissions: who may do what. [`Role::allows`] is the whole roles × permissions
//! table; the methods and routes that need each permission are in [`super::table`].

use std::fmt;
use std::str::FromStr;

/// What a caller is, for people and programs alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Reads panels, events and alarms; watches the live event stream.
    Viewer,
    /// A viewer who also handles alarms and arms, disarms and controls panels.
    Operator,
    /// Everything: an operator who also manages tokens and users and reads the audit trail.
    Admin,
    /// Another system: pushes events in (`Ingest`), consumes them (`Subscribe`), reads.
    Integration,
}

/// One thing a call may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Panels, events, the compat API, reflection.
    Read,
    /// `WatchEvents`: the live event stream.
    Watch,
    /// `Subscribe`: consumer-group delivery with acknowledgements.
    Subscribe,
    /// Arm, disarm, emergency and other remote commands.
    Control,
    /// Take, release, note and close alarms.
    HandleAlarms,
    /// Take over, release or close an alarm another operator holds (`force`).
    SuperviseAlarms,
    /// `Ingest`: push events in from another system.
    Ingest,
    /// Prometheus `/metrics`.
    Metrics,
    /// Read the audit trail.
    Audit,
    /// Create and revoke tokens, add and remove users.
    ManageCredentials,
    /// Add, change and remove panel accounts (keys, passwords, supervision …).
    ManageAccounts,
    /// Operator-only debugging endpoints (test hooks).
    Debug,
}

impl Role {
    /// Every role, in the order the docs list them.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Admin, Role::Integration];

    /// Whether this role has `p`. The one roles × permissions table of the project.
    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::Operator => matches!(
                p,
                P::Read | P::Watch | P::Metrics | P::Control | P::HandleAlarms
            ),
            Role::Viewer => matches!(p, P::Read | P::Watch | P::Metrics),
            Role::Integration => matches!(p, P::Read | P::Metrics | P::Ingest | P::Subscribe),
        }
    }

    /// Stable lower-case name (CLI, config, storage, audit rows).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Integration => "integration",
        }
    }

    /// The roles that have `p`, for refusal messages ("needs operator or admin").
    pub fn holders(p: Permission) -> Vec<&'static str> {
        Role::ALL
            .iter()
            .filter(|r| r.allows(p))
            .map(|r| r.as_str())
            .collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (viewer, operator, admin, integration)"))
    }
}

impl Permission {
    /// What the permission lets a caller do, for refusal messages.
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Read => "read panels and events",
            Permission::Watch => "watch the live event stream",
            Permission::Subscribe => "subscribe as a consumer group",
            Permission::Control => "control panels",
            Permission::HandleAlarms => "handle alarms",
            Permission::SuperviseAlarms => "take over alarms other operators hold",
            Permission::Ingest => "ingest events",
            Permission::Metrics => "read metrics",
            Permission::Audit => "read the audit trail",
            Permission::ManageCredentials => "manage tokens and users",
            Permission::ManageAccounts => "manage panel accounts",
            Permission::Debug => "use debugging endpoints",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission as P;

    const ALL_PERMISSIONS: [Permission; 12] = [
        P::Read,
        P::Watch,
        P::Subscribe,
        P::Control,
        P::HandleAlarms,
        P::SuperviseAlarms,
        P::Ingest,
        P::Metrics,
        P::Audit,
        P::ManageCredentials,
        P::ManageAccounts,
        P::Debug,
    ];

    #[test]
    fn roles_allow_exactly_the_documented_permissions() {
        // (role, permissions it has) — the README's roles table.
        let table: [(Role, &[Permission]); 4] = [
            (Role::Viewer, &[P::Read, P::Watch, P::Metrics]),
            (
                Role::Operator,
                &[P::Read, P::Watch, P::Metrics, P::Control, P::HandleAlarms],
            ),
            (Role::Admin, &ALL_PERMISSIONS),
            (
                Role::Integration,
                &[P::Read, P::Metrics, P::Ingest, P::Subscribe],
            ),
        ];
        for (role, has) in table {
            for p in ALL_PERMISSIONS {
                assert_eq!(role.allows(p), has.contains(&p), "{role} {p:?}");
            }
        }
    }

    #[test]
    fn operator_is_a_viewer_and_admin_is_an_operator() {
        for p in ALL_PERMISSIONS {
            if Role::Viewer.allows(p) {
                assert!(Role::Operator.allows(p), "{p:?}");
            }
            if Role::Operator.allows(p) {
                assert!(Role::Admin.allows(p), "{p:?}");
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_say_the_choices() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        let e = "root".parse::<Role>().unwrap_err();
        assert!(e.contains("viewer, operator, admin, integration"), "{e}");
        assert_eq!(Role::holders(P::Control), ["operator", "admin"]);
    }
}
