//! Who is calling: [`Identity`], put into every request's extensions by the access check so
//! handlers can name the actor (control events, audit rows) and apply per-role rules (the
//! compat API's passwords).

use std::fmt;
use std::net::SocketAddr;

use super::role::Role;

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An API token (`authorization: Bearer …`).
    Token,
    /// A user who logged in with a password.
    User,
    /// Nobody: access control is off, or an anonymous compat call.
    Anonymous,
    /// The command line on the data directory itself (`alarmhub token …`).
    Local,
}

impl Kind {
    /// Stable name for audit rows and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::User => "user",
            Kind::Anonymous => "anonymous",
            Kind::Local => "local",
        }
    }
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Token or user name; `anonymous` for nobody.
    pub name: String,
    /// What the caller may do.
    pub role: Role,
    /// How it was established.
    pub kind: Kind,
    /// The client's address, when known.
    pub addr: Option<SocketAddr>,
}

impl Identity {
    /// A caller with no credentials and `role`.
    pub fn anonymous(role: Role, addr: Option<SocketAddr>) -> Identity {
        Identity {
            name: "anonymous".into(),
            role,
            kind: Kind::Anonymous,
            addr,
        }
    }

    /// `token:NAME`, `user:NAME` or `anonymous`: how logs and events name the actor.
    pub fn actor(&self) -> String {
        match self.kind {
            Kind::Anonymous => "anonymous".into(),
            k => format!("{}:{}", k.as_str(), self.name),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.actor(), self.role)
    }
}
