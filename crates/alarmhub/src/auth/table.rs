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
    fn unknown_methods_and_routes_are_refused() {
        assert_eq!(grpc_rule("/alarmhub.v1.AlarmHub/DropTables"), Rule::Unknown);
        assert_eq!(grpc_rule(""), Rule::Unknown);
        assert_eq!(http_rule("/metrics/"), Rule::Unknown);
        assert_eq!(http_rule("/healthz"), Rule::Open);
    }
}
