//! Generated gRPC code: the frozen compat contract `alarm_server` (a byte-identical copy of
//! the shared proto) and the project's own `alarmhub.v1`, plus the descriptor set that
//! server reflection serves.
#![allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
// The doc comments below come from the .proto files, written for protobuf readers (`<os user>`,
// `[…]`), not as rustdoc markup.
#![allow(
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links,
    rustdoc::bare_urls
)]

/// `alarm_server.AlarmServer`: the API deployed clients already call.
pub mod alarm_server {
    tonic::include_proto!("alarm_server");
}

/// `alarmhub.v1.AlarmHub`: machines, events, push delivery, control, ingest.
pub mod v1 {
    tonic::include_proto!("alarmhub.v1");
}

/// Encoded descriptors of both packages, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("descriptor");
