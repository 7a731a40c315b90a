//! The API key secret.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

/// The token of the Default public key, identical for every CARTO user.
pub const DEFAULT_PUBLIC_TOKEN: &str = "default_public";

/// An API key token: the secret that authenticates a request.
///
/// `Debug` prints a redaction, there is no `Display`, and the only way to read the
/// secret is [`Token::expose_secret`]. Equality runs in constant time.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Wraps a secret token.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The token of the Default public key (`default_public`).
    pub fn default_public() -> Self {
        Self(DEFAULT_PUBLIC_TOKEN.to_owned())
    }

    /// Whether this is the Default public key token.
    pub fn is_default_public(&self) -> bool {
        self.0 == DEFAULT_PUBLIC_TOKEN
    }

    /// Whether the token is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads the secret. Every call site is a place where the secret leaves this type:
    /// keep them few and never log what they return.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_default_public() {
            // A public, well-known value: showing it helps debugging and leaks nothing.
            f.write_str("Token(default_public)")
        } else {
            f.write_str("Token(<redacted>)")
        }
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Token {}

impl From<String> for Token {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Token {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Serialize for Token {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = Token::new("s3cr3t-canary");
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        assert_eq!(
            format!("{:?}", Token::default_public()),
            "Token(default_public)"
        );
    }

    #[test]
    fn equality_and_serde() {
        let t: Token = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(t, Token::from("abc"));
        assert_ne!(t, Token::from("abd"));
        assert_ne!(t, Token::from("abcd"));
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"abc\"");
    }
}
