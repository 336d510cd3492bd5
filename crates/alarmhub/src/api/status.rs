//! The one mapping from daemon errors to gRPC statuses, used by every service, so the same
//! failure always reaches clients with the same code.

use tonic::Status;

use crate::store::StoreError;

/// A store failure as a gRPC status: a damaged, too new or too old database is `INTERNAL`
/// (retrying will not help), an operation the backend lacks `UNIMPLEMENTED`, anything else
/// (closed while shutting down, I/O, a full disk) `UNAVAILABLE`. `what` says what the call
/// was doing, e.g. "listing events".
pub fn store_status(what: &str, e: &StoreError) -> Status {
    let message = format!("{what}: {e}");
    match e {
        StoreError::NotADatabase { .. }
        | StoreError::SchemaVersion { .. }
        | StoreError::SchemaOutdated { .. } => Status::internal(message),
        StoreError::Unsupported { .. } => Status::unimplemented(message),
        _ => Status::unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_say_what_failed_and_whether_a_retry_helps() {
        let s = store_status("listing events", &StoreError::Closed);
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert!(
            s.message()
                .starts_with("listing events: the store is closed"),
            "{}",
            s.message()
        );
        let s = store_status(
            "x",
            &StoreError::SchemaVersion {
                path: "/d/alarmhub.db".into(),
                found: 9,
                supported: 2,
            },
        );
        assert_eq!(s.code(), tonic::Code::Internal);
        assert!(s.message().contains("/d/alarmhub.db"));
        let s = store_status("x", &StoreError::Unsupported { what: "stalling" });
        assert_eq!(s.code(), tonic::Code::Unimplemented);
    }
}
