//! `[auth]` and `[tls]`: who may use the APIs, and the certificate they are served with.
//! The rules that use these settings live in `crate::auth`; this module only owns their shape
//! and defaults.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// `[auth] required`: whether API callers must present a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Required {
    /// On as soon as an API listener (gRPC or HTTP) binds a non-loopback address.
    #[default]
    Auto,
    /// Always on.
    Always,
    /// Off everywhere (every caller may do everything).
    Never,
}

impl<'de> Deserialize<'de> for Required {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Required, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Required;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or \"auto\"")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Required, E> {
                Ok(if b { Required::Always } else { Required::Never })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Required, E> {
                match s {
                    "auto" => Ok(Required::Auto),
                    _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `[auth] compat_anonymous`: whether callers without a token may use the frozen compat
/// service `alarm_server.AlarmServer` (deployed clients send no metadata) while access
/// control is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompatAnonymous {
    /// Only from loopback addresses (a worker on the same host).
    #[default]
    Loopback,
    /// From anywhere.
    Always,
    /// Never: compat callers need a token too.
    Never,
}

/// `[auth]`: access control of the gRPC and HTTP APIs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `"auto"` (default), `true` or `false`.
    pub required: Required,
    /// Serve a non-loopback API listener without TLS (tokens then travel in clear).
    pub insecure: bool,
    /// Anonymous use of the compat service.
    pub compat_anonymous: CompatAnonymous,
    /// Calls without valid credentials answered per minute per client address (in bursts
    /// of as many); beyond, `RESOURCE_EXHAUSTED` with a retry-after. 0: no limit.
    pub unauthenticated_per_min: u32,
}

/// The default of `[auth] unauthenticated_per_min`.
pub const UNAUTHENTICATED_PER_MIN: u32 = 120;

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            required: Required::default(),
            insecure: false,
            compat_anonymous: CompatAnonymous::default(),
            unauthenticated_per_min: UNAUTHENTICATED_PER_MIN,
        }
    }
}

/// `[tls]`: TLS for the gRPC and HTTP listeners (panel listeners never use TLS).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// PEM CA certificates: when set, clients must present a certificate signed by one.
    pub client_ca: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether TLS is configured (cert and key given).
    pub fn enabled(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        auth: AuthConfig,
    }

    fn parse(s: &str) -> Result<AuthConfig, String> {
        toml::from_str::<T>(s)
            .map(|t| t.auth)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn required_takes_auto_true_or_false() {
        assert_eq!(parse("[auth]\n").unwrap().required, Required::Auto);
        assert_eq!(
            parse("[auth]\nrequired = true\n").unwrap().required,
            Required::Always
        );
        assert_eq!(
            parse("[auth]\nrequired = false\n").unwrap().required,
            Required::Never
        );
        assert_eq!(
            parse("[auth]\nrequired = \"auto\"\n").unwrap().required,
            Required::Auto
        );
        let e = parse("[auth]\nrequired = \"yes\"\n").unwrap_err();
        assert!(e.contains("true, false or \"auto\""), "{e}");
        let e = parse("[auth]\ncompat_anonymous = \"sometimes\"\n").unwrap_err();
        assert!(e.contains("loopback"), "{e}");
    }
}
