//! Access control: who may call the gRPC and HTTP APIs and what they may do, TLS for those
//! listeners, and the audit trail (DESIGN.md contract 7: nobody acts without being allowed
//! to).
//!
//! * [`role`]: the four roles and the one roles × permissions table ([`Role::allows`]).
//! * [`table`]: every gRPC method and HTTP route → the permission it needs; anything not
//!   listed is refused.
//! * [`secret`]: tokens (`ahk_…`, stored as SHA-256), passwords (argon2id), and
//!   [`Sensitive`], a string that never prints.
//! * [`identity`]: the caller ([`Identity`]) that the check puts into request extensions.
//! * [`gate`]: [`Auth`], the one check both protocols call, and user login.
//! * [`admin`]: creating, changing and removing users and tokens, shared by the command
//!   line and the console, each change audited with its actor.
//! * [`grpc`] and [`http`]: the tower layer around the tonic router and the axum middleware.
//! * [`cache`], [`limiter`], [`unauthenticated`]: tokens and users in memory (reloaded
//!   within a second of a change), the failed-authentication limiter, and the rate of
//!   unauthenticated calls per address.
//! * [`store`] ([`AuthStore`], [`AuditLog`]) with [`sqlite`]: tokens, users and audit rows in
//!   the event database; [`audit`] writes audit rows in batches.
//! * [`exposure`]: when access control and TLS are required; [`tls`] and [`listen`]: TLS
//!   with a certificate that SIGHUP reloads; [`fsperm`]: private data files.
//!
//! The command line's `token`, `user` and `audit` commands (`crate::cli::admin`) work on the
//! data directory directly, whether the daemon runs or not.

pub mod admin;
pub mod audit;
pub mod cache;
pub mod exposure;
pub mod fsperm;
pub mod gate;
pub mod grpc;
pub mod http;
pub mod identity;
pub mod limiter;
pub mod listen;
pub mod postgres;
pub mod role;
pub mod secret;
pub mod sqlite;
pub mod store;
pub mod table;
pub mod tls;
pub mod unauthenticated;

pub use gate::{authorize, Auth, Refusal};
pub use identity::{Identity, Kind};
pub use role::{Permission, Role};
pub use secret::Sensitive;
pub use store::{
    open_backend, AuditLog, AuditQuery, AuditRecord, AuthBackend, AuthStore, AuthStoreError,
    PgAuthStore, SessionRow, SessionStore, SqliteAuthStore,
};
