//! What access control keeps durably, behind two small traits so the backends can change:
//! [`AuthStore`] (tokens and users) and [`AuditLog`] (the audit trail). [`SqliteAuthStore`]
//! implements both on tables in the event database (`alarmhub.db`).
//!
//! Every change to tokens or users bumps a generation number in the same transaction; a
//! running daemon polls it every second and reloads its cache only when it moved, so the
//! CLI can change credentials while the daemon runs (DESIGN.md: one store, many writers with
//! short transactions).

use std::path::PathBuf;
use std::sync::Arc;

use super::role::Role;
use super::secret::TokenHash;

/// A token as stored (the hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Unique name.
    pub name: String,
    /// Role granted.
    pub role: Role,
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms of the last call with it (written in batches, so up to ~10 s behind).
    pub last_used_ms: Option<i64>,
    /// Unix ms after which the token is refused (`None`: it does not expire).
    pub expires_at_ms: Option<i64>,
}

/// A user as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Unique name.
    pub name: String,
    /// Role granted.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms of the last successful login.
    pub last_login_ms: Option<i64>,
    /// A disabled user cannot log in and its console sessions end.
    pub disabled: bool,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"****")
            .field("created_at_ms", &self.created_at_ms)
            .field("last_login_ms", &self.last_login_ms)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct AuditRecord {
    /// Row id, increasing (0 before it is stored).
    pub id: i64,
    /// Unix ms.
    pub at_ms: i64,
    /// Token or user name (`anonymous`, or `cli:<os user>` for the command line).
    pub who: String,
    /// The caller's role (`-` when unknown: a refused token).
    pub role: String,
    /// `token`, `user`, `anonymous`, `local`.
    pub kind: String,
    /// Client address (`-` when unknown).
    pub addr: String,
    /// What was asked: a gRPC method path, an HTTP route, `token.create`, `login` …
    pub action: String,
    /// What it was about: a panel account, a token or user name (empty when none).
    pub target: String,
    /// `ok`, a control outcome (`done`, `timed_out` …), `unauthenticated`,
    /// `permission_denied`, `rate_limited`, `failed`.
    pub outcome: String,
    /// Free-form JSON detail (never a secret).
    pub detail: String,
}

/// Filters of [`AuditLog::query_audit`]; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// At or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Only this `who`.
    pub who: Option<String>,
    /// Only rows about this target (a panel account, a user or token name).
    pub target: Option<String>,
    /// Paging: only rows with `id < before_id` (newest first).
    pub before_id: Option<i64>,
    /// At most this many rows (0 = 100).
    pub limit: usize,
}

/// Why the auth store failed, naming the database.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthStoreError {
    /// A PostgreSQL failure: `op` says what was being done, `target` names the database
    /// (never its password).
    #[error("{op} failed on {target}: {source}")]
    Postgres {
        /// What the store was doing.
        op: &'static str,
        /// The database, without password.
        target: String,
        /// What PostgreSQL reported.
        #[source]
        source: Arc<tokio_postgres::Error>,
    },
    /// The shared store could not be reached or migrated (it names the database).
    #[error("{0}")]
    Store(#[source] crate::store::StoreError),
    /// A SQLite failure: `op` says what was being done.
    #[error("{op} failed on {path}: {source}")]
    Sqlite {
        /// What the store was doing.
        op: &'static str,
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        #[source]
        source: Arc<rusqlite::Error>,
    },
    /// The data directory or database file could not be created or secured.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A token or user with that name exists already.
    #[error("a {what} named {name:?} exists already")]
    Exists {
        /// `token` or `user`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A stored row does not parse (a role this build does not know …).
    #[error("{path}: {what}")]
    BadRow {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The database's auth tables are newer than this build.
    #[error("{path} has auth schema version {found}; this build supports up to {supported}")]
    SchemaVersion {
        /// The database file.
        path: PathBuf,
        /// Found.
        found: i64,
        /// Supported.
        supported: i64,
    },
}

/// Tokens and users.
pub trait AuthStore: Send {
    /// Bumped by every change to tokens or users.
    fn generation(&self) -> Result<i64, AuthStoreError>;
    /// Every token and user (for the daemon's cache).
    fn load(&self) -> Result<(Vec<TokenRow>, Vec<UserRow>), AuthStoreError>;
    /// Store a new token; [`AuthStoreError::Exists`] when the name is taken.
    fn create_token(&mut self, row: &TokenRow) -> Result<(), AuthStoreError>;
    /// Delete a token; `false` when there was none.
    fn revoke_token(&mut self, name: &str) -> Result<bool, AuthStoreError>;
    /// Record when tokens were last used (batched by the daemon).
    fn touch_tokens(&mut self, used: &[(String, i64)]) -> Result<(), AuthStoreError>;
    /// Store a new user; [`AuthStoreError::Exists`] when the name is taken.
    fn add_user(&mut self, row: &UserRow) -> Result<(), AuthStoreError>;
    /// Replace a user's password hash; `false` when there is no such user.
    fn set_password(
        &mut self,
        name: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<bool, AuthStoreError>;
    /// Change a user's role; `false` when there is no such user.
    fn set_role(&mut self, name: &str, role: Role, now_ms: i64) -> Result<bool, AuthStoreError>;
    /// Disable a user (its console sessions are deleted with it) or enable it again;
    /// `false` when there is no such user.
    fn set_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        now_ms: i64,
    ) -> Result<bool, AuthStoreError>;
    /// Delete a user and its console sessions; `false` when there was none.
    fn remove_user(&mut self, name: &str) -> Result<bool, AuthStoreError>;
    /// Record a successful login.
    fn record_login(&mut self, name: &str, now_ms: i64) -> Result<(), AuthStoreError>;
}

/// The audit trail.
pub trait AuditLog: Send {
    /// Append rows in one transaction.
    fn append_audit(&mut self, rows: &[AuditRecord]) -> Result<(), AuthStoreError>;
    /// Rows matching `q`, newest first.
    fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, AuthStoreError>;
}

pub use super::postgres::PgAuthStore;
pub use super::sqlite::SqliteAuthStore;

/// A console session as stored: the SHA-256 of the cookie value (never the value), the
/// user, and when it was last used. The role is not stored: each request takes the user's
/// current role, so a role change or a disabled user takes effect at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the cookie value.
    pub id_hash: TokenHash,
    /// The user.
    pub name: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms of the last request that was the user's doing.
    pub last_seen_ms: i64,
}

/// Console sessions, shared by every node of a cluster (a restart logs nobody out).
pub trait SessionStore: Send {
    /// Store a new session after deleting those last seen before `expired_before_ms` and,
    /// beyond `max`, the longest idle ones.
    fn create_session(
        &mut self,
        row: &SessionRow,
        expired_before_ms: i64,
        max: usize,
    ) -> Result<(), AuthStoreError>;
    /// The session with this hash.
    fn session(&self, id_hash: &TokenHash) -> Result<Option<SessionRow>, AuthStoreError>;
    /// Record a request at `now_ms`.
    fn touch_session(&mut self, id_hash: &TokenHash, now_ms: i64) -> Result<(), AuthStoreError>;
    /// Delete a session; whether there was one.
    fn remove_session(&mut self, id_hash: &TokenHash) -> Result<bool, AuthStoreError>;
}

/// All of it in one object: what the daemon and the CLI hold.
pub trait AuthBackend: AuthStore + AuditLog + SessionStore {}

impl<T: AuthStore + AuditLog + SessionStore> AuthBackend for T {}

/// The tokens, users and audit trail the configuration names: in the PostgreSQL store when
/// `[store] url` is set (shared by every node), else in the SQLite database in `data_dir`.
pub fn open_backend(
    store: &crate::config::StoreConfig,
) -> Result<Box<dyn AuthBackend>, AuthStoreError> {
    Ok(match &store.url {
        Some(url) => Box::new(PgAuthStore::open(url)?),
        None => Box::new(SqliteAuthStore::open(&store.data_dir)?),
    })
}
