//! The permission table: every gRPC method path and every HTTP route, and what it needs.
//! Anything not listed is refused when access control is on — a new RPC or page is closed
//! until someone decides who may use it (a test checks that every method in the served
//! descriptors has an entry).

use super::role::Permission;

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Nobody is asked for anything (health checks for load balancers).
    Open,
    /// The frozen compat service: anonymous callers are let in according to
    /// `[auth] compat_anonymous`; callers with a token need [`Permission::Read`].
    Compat,
    /// A caller whose role has this permission.
    Need(Permission),
    /// Not in the table: refused.
    Unknown,
}

use Permission as P;

/// gRPC methods, by HTTP/2 path.
const GRPC: &[(&str, Rule)] = &[
    ("/alarm_server.AlarmServer/IsNeedSync", Rule::Compat),
    ("/alarm_server.AlarmServer/Sync", Rule::Compat),
    ("/alarmhub.v1.AlarmHub/ListMachines", Rule::Need(P::Read)),
    ("/alarmhub.v1.AlarmHub/GetMachine", Rule::Need(P::Read)),
    ("/alarmhub.v1.AlarmHub/ListEvents", Rule::Need(P::Read)),
    ("/alarmhub.v1.AlarmHub/WatchEvents", Rule::Need(P::Watch)),
    ("/alarmhub.v1.AlarmHub/Subscribe", Rule::Need(P::Subscribe)),
    ("/alarmhub.v1.AlarmHub/Control", Rule::Need(P::Control)),
    ("/alarmhub.v1.AlarmHub/Ingest", Rule::Need(P::Ingest)),
    ("/alarmhub.v1.AlarmHub/ListAudit", Rule::Need(P::Audit)),
    ("/alarmhub.v1.AlarmHub/ListAccounts", Rule::Need(P::Read)),
    ("/alarmhub.v1.AlarmHub/GetAccount", Rule::Need(P::Read)),
    (
        "/alarmhub.v1.AlarmHub/PutAccount",
        Rule::Need(P::ManageAccounts),
    ),
    (
        "/alarmhub.v1.AlarmHub/RemoveAccount",
        Rule::Need(P::ManageAccounts),
    ),
    ("/alarmhub.v1.AlarmHub/ListAlarms", Rule::Need(P::Read)),
    ("/alarmhub.v1.AlarmHub/GetAlarm", Rule::Need(P::Read)),
    ("/alarmhub.v1.AlarmHub/WatchAlarms", Rule::Need(P::Watch)),
    // `force` (take over, release or close another holder's alarm) additionally needs
    // `SuperviseAlarms` (admin), checked by `crate::alarms::Alarms` on the same identity.
    (
        "/alarmhub.v1.AlarmHub/TakeAlarm",
        Rule::Need(P::HandleAlarms),
    ),
    (
        "/alarmhub.v1.AlarmHub/ReleaseAlarm",
        Rule::Need(P::HandleAlarms),
    ),
    (
        "/alarmhub.v1.AlarmHub/AddAlarmNote",
        Rule::Need(P::HandleAlarms),
    ),
    (
        "/alarmhub.v1.AlarmHub/CloseAlarm",
        Rule::Need(P::HandleAlarms),
    ),
    ("/grpc.health.v1.Health/Check", Rule::Open),
    ("/grpc.health.v1.Health/Watch", Rule::Open),
    (
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Rule::Need(P::Read),
    ),
    (
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        Rule::Need(P::Read),
    ),
];

/// HTTP routes, by path. `/metrics` needs a token of any role when access control is on
/// (Prometheus sends one with `authorization: { credentials_file: … }`): panel counts and
/// queue depths are not for anyone who can reach the port.
const HTTP: &[(&str, Rule)] = &[
    ("/healthz", Rule::Open),
    ("/readyz", Rule::Open),
    ("/metrics", Rule::Need(P::Metrics)),
    ("/debug/stall-writer", Rule::Need(P::Debug)),
];

/// What a console route needs: the same rule as the gRPC method it stands for, or its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// The page shell and its assets, and the login itself (rate-limited by the login).
    Open,
    /// Exactly what the gRPC method at this path needs.
    AsGrpc(&'static str),
    /// A permission of its own (no gRPC method does this: users, tokens, the dashboard).
    Need(Permission),
}

const V1: &str = "/alarmhub.v1.AlarmHub/";

/// Console routes: (method, path pattern, rule). A `*` segment matches one path segment.
/// Every `GET` that is not a page asset and every `POST` needs a session; a `POST` also
/// needs the session's CSRF token (`crate::console`).
const CONSOLE: &[(&str, &str, Console)] = &[
    ("GET", "/", Console::Open),
    ("GET", "/console/assets/*", Console::Open),
    ("POST", "/console/api/login", Console::Open),
    ("POST", "/console/api/logout", Console::Need(P::Read)),
    ("GET", "/console/api/me", Console::Need(P::Read)),
    ("GET", "/console/api/dashboard", Console::Need(P::Read)),
    (
        "GET",
        "/console/api/panels",
        Console::AsGrpc("ListMachines"),
    ),
    (
        "GET",
        "/console/api/panels/*",
        Console::AsGrpc("GetMachine"),
    ),
    (
        "POST",
        "/console/api/panels/*/control",
        Console::AsGrpc("Control"),
    ),
    // The panel page's audit rows (about that panel only, without client addresses): the
    // same readers as the panel's history, which already names who sent each command.
    ("GET", "/console/api/panels/*/audit", Console::Need(P::Read)),
    ("GET", "/console/api/events", Console::AsGrpc("ListEvents")),
    ("GET", "/console/api/audit", Console::AsGrpc("ListAudit")),
    (
        "GET",
        "/console/api/users",
        Console::Need(P::ManageCredentials),
    ),
    (
        "GET",
        "/console/api/tokens",
        Console::Need(P::ManageCredentials),
    ),
    // The outputs' link state: the figures `/metrics` exports.
    ("GET", "/console/api/outputs", Console::Need(P::Metrics)),
    // The users and tokens pages' changes (the same as `alarmhub user …`/`token …`).
    (
        "POST",
        "/console/api/users",
        Console::Need(P::ManageCredentials),
    ),
    (
        "POST",
        "/console/api/users/*/role",
        Console::Need(P::ManageCredentials),
    ),
    (
        "POST",
        "/console/api/users/*/disable",
        Console::Need(P::ManageCredentials),
    ),
    (
        "POST",
        "/console/api/users/*/enable",
        Console::Need(P::ManageCredentials),
    ),
    (
        "POST",
        "/console/api/users/*/password",
        Console::Need(P::ManageCredentials),
    ),
    (
        "POST",
        "/console/api/tokens",
        Console::Need(P::ManageCredentials),
    ),
    (
        "POST",
        "/console/api/tokens/*/revoke",
        Console::Need(P::ManageCredentials),
    ),
    ("GET", "/console/api/alarms", Console::AsGrpc("ListAlarms")),
    (
        "GET",
        "/console/api/alarms/stream",
        Console::AsGrpc("WatchAlarms"),
    ),
    ("GET", "/console/api/alarms/*", Console::AsGrpc("GetAlarm")),
    (
        "POST",
        "/console/api/alarms/*/take",
        Console::AsGrpc("TakeAlarm"),
    ),
    (
        "POST",
        "/console/api/alarms/*/release",
        Console::AsGrpc("ReleaseAlarm"),
    ),
    (
        "POST",
        "/console/api/alarms/*/note",
        Console::AsGrpc("AddAlarmNote"),
    ),
    (
        "POST",
        "/console/api/alarms/*/close",
        Console::AsGrpc("CloseAlarm"),
    ),
];

/// The gRPC path a console rule refers to.
pub fn console_grpc_path(method: &str) -> String {
    format!("{V1}{method}")
}

/// The rule for a console request; [`Rule::Unknown`] for anything not listed.
pub fn console_rule(method: &str, path: &str) -> Rule {
    CONSOLE
        .iter()
        .find(|(m, pattern, _)| *m == method && pattern_matches(pattern, path))
        .map_or(Rule::Unknown, |(_, _, c)| match c {
            Console::Open => Rule::Open,
            Console::AsGrpc(name) => grpc_rule(&console_grpc_path(name)),
            Console::Need(p) => Rule::Need(*p),
        })
}

/// Whether `path` is served by the console (its rules come from [`console_rule`]).
pub fn is_console_path(path: &str) -> bool {
    path == "/" || path.starts_with("/console/")
}

fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some("*"), Some(seg)) if !seg.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// Every console entry, for documentation and tests.
pub fn console_entries() -> &'static [(&'static str, &'static str, Console)] {
    CONSOLE
}

/// The rule for a gRPC method path (`/package.Service/Method`).
pub fn grpc_rule(path: &str) -> Rule {
    lookup(GRPC, path)
}

/// The rule for an HTTP path.
pub fn http_rule(path: &str) -> Rule {
    lookup(HTTP, path)
}

fn lookup(table: &[(&str, Rule)], path: &str) -> Rule {
    table
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(Rule::Unknown, |(_, r)| *r)
}

/// Every gRPC entry, for documentation and tests.
pub fn grpc_entries() -> &'static [(&'static str, Rule)] {
    GRPC
}

/// Every HTTP entry, for documentation and tests.
pub fn http_entries() -> &'static [(&'static str, Rule)] {
    HTTP
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn methods(fds: &[u8]) -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(fds).unwrap();
        let mut out = Vec::new();
        for file in set.file {
            let package = file.package.clone().unwrap_or_default();
            for s in &file.service {
                for m in &s.method {
                    out.push(format!(
                        "/{package}.{}/{}",
                        s.name.clone().unwrap_or_default(),
                        m.name.clone().unwrap_or_default()
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn every_served_grpc_method_has_an_entry() {
        let mut all = methods(crate::proto::FILE_DESCRIPTOR_SET);
        all.extend(methods(tonic_health::pb::FILE_DESCRIPTOR_SET));
        all.extend(methods(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET));
        all.extend(methods(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET));
        assert!(all.len() >= 14, "{all:?}");
        for m in &all {
            assert_ne!(grpc_rule(m), Rule::Unknown, "{m} has no permission entry");
        }
        // And nothing in the table that is not served (a stale entry hides a rename).
        for (path, _) in GRPC {
            assert!(all.iter().any(|m| m == path), "{path} is not served");
        }
    }

    #[test]
    fn console_routes_follow_the_grpc_rule_of_the_call_they_stand_for() {
        for (_, _, c) in CONSOLE {
            if let Console::AsGrpc(name) = c {
                let path = console_grpc_path(name);
                assert!(
                    GRPC.iter().any(|(p, _)| *p == path),
                    "{path} is not in GRPC"
                );
            }
        }
        assert_eq!(
            console_rule("POST", "/console/api/panels/861234567890/control"),
            Rule::Need(P::Control)
        );
        assert_eq!(
            console_rule("GET", "/console/api/audit"),
            Rule::Need(P::Audit)
        );
        assert_eq!(
            console_rule("GET", "/console/api/panels/A1"),
            Rule::Need(P::Read)
        );
        assert_eq!(console_rule("GET", "/console/assets/app.js"), Rule::Open);
        assert_eq!(
            console_rule("POST", "/console/api/panels//control"),
            Rule::Unknown
        );
        assert_eq!(
            console_rule("GET", "/console/api/panels/A1/control"),
            Rule::Unknown
        );
        assert_eq!(console_rule("DELETE", "/console/api/me"), Rule::Unknown);
        assert_eq!(console_rule("GET", "/console/api/drop"), Rule::Unknown);
        assert_eq!(
            console_rule("POST", "/console/api/alarms/7/take"),
            Rule::Need(P::HandleAlarms)
        );
        assert_eq!(
            console_rule("GET", "/console/api/alarms/stream"),
            Rule::Need(P::Watch)
        );
        assert_eq!(
            console_rule("GET", "/console/api/outputs"),
            Rule::Need(P::Metrics)
        );
    }

    #[test]
    fn unknown_methods_and_routes_are_refused() {
        assert_eq!(grpc_rule("/alarmhub.v1.AlarmHub/DropTables"), Rule::Unknown);
        assert_eq!(grpc_rule(""), Rule::Unknown);
        assert_eq!(http_rule("/metrics/"), Rule::Unknown);
        assert_eq!(http_rule("/healthz"), Rule::Open);
    }
}
