//! Secrets and their hashes: API tokens (high-entropy, stored as SHA-256), user passwords
//! (argon2id), and [`Sensitive`], a string whose `Debug` and `Display` print `****`.
//!
//! A token is `ahk_` followed by 64 hex digits (256 random bits from the OS generator):
//! recognisable in a leaked file or a secret scanner, and strong enough that one fast hash is
//! all the storage needs — nobody can guess a 256-bit value, so a slow hash would only cost
//! every call.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "ahk_";

/// Shortest user password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// A secret string (token, password). Never printed: `Debug` and `Display` show `****`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Sensitive {
        Sensitive(s.into())
    }

    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Sensitive {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Sensitive, Self::Err> {
        Ok(Sensitive::new(s))
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// SHA-256 of a token: what the store keeps and the cache is keyed by.
pub type TokenHash = [u8; 32];

/// A new random token.
pub fn generate_token() -> Sensitive {
    let mut bytes = [0u8; 32];
    // ThreadRng is a CSPRNG seeded (and periodically reseeded) from the OS.
    rand::rng().fill_bytes(&mut bytes);
    let mut s = String::with_capacity(TOKEN_PREFIX.len() + 64);
    s.push_str(TOKEN_PREFIX);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    Sensitive(s)
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// A token hash as hex (the database column).
pub fn hash_hex(h: &TokenHash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hex column back to a hash; `None` when it is not 64 hex digits.
pub fn hash_from_hex(s: &str) -> Option<TokenHash> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// Why a password cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short.
    #[error("the password has {0} characters; use at least {MIN_PASSWORD_LEN}")]
    TooShort(usize),
    /// argon2 failed (out of memory, bad parameters).
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// argon2id hash (PHC string, with its own random salt) of a user password.
pub fn hash_password(password: &Sensitive) -> Result<String, PasswordError> {
    let n = password.expose().chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort(n));
    }
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let salt = SaltString::encode_b64(&raw).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches a stored argon2 hash. A malformed stored hash never matches.
pub fn verify_password(password: &Sensitive, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &h)
            .is_ok()
    })
}

/// Names of tokens and users: 1..=64 of `A-Z a-z 0-9 . _ - @`.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("{kind} name must have 1 to 64 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(format!(
            "{kind} name {name:?}: character {c:?} is not allowed (use letters, digits, . _ - @)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(a.expose()), hash_token(a.expose()));
        let h = hash_token(a.expose());
        assert_eq!(hash_from_hex(&hash_hex(&h)), Some(h));
        assert_eq!(hash_from_hex("zz"), None);
    }

    #[test]
    fn secrets_never_print() {
        let t = generate_token();
        assert_eq!(format!("{t:?} {t}"), "**** ****");
    }

    #[test]
    fn passwords_verify_with_argon2id_and_short_ones_are_refused() {
        let pw = Sensitive::new("correct horse battery");
        let h = hash_password(&pw).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&pw, &h));
        assert!(!verify_password(&Sensitive::new("wrong horse battery"), &h));
        assert!(!verify_password(&pw, "not a hash"));
        assert!(matches!(
            hash_password(&Sensitive::new("short")),
            Err(PasswordError::TooShort(5))
        ));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("token", "ops-app_1@site.a").is_ok());
        assert!(check_name("token", "").is_err());
        assert!(check_name("token", "a b").unwrap_err().contains("' '"));
    }
}
