//! The secrets of CARTO 3: access tokens and M2M client secrets.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

/// Defines a secret string type: redacted `Debug`, no `Display`, constant-time
/// equality, read only through `expose_secret`.
macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret.
            pub fn new(secret: impl Into<String>) -> Self {
                Self(secret.into())
            }

            /// Whether the secret is empty (or only white space).
            pub fn is_empty(&self) -> bool {
                self.0.trim().is_empty()
            }

            /// Reads the secret. Every call site is a place where the secret leaves this
            /// type: keep them few and never log what they return.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self)
            }
        }
    };
}

secret_type!(
    /// A CARTO 3 Bearer token: an API access token (a JWT scoped by grants) or an OAuth
    /// access token (a user's, or one issued to M2M client credentials).
    ///
    /// `Debug` prints a redaction, there is no `Display`, and the only way to read the
    /// secret is [`AccessToken::expose_secret`]. Equality runs in constant time.
    AccessToken
);

secret_type!(
    /// The `client_secret` of OAuth machine-to-machine client credentials.
    ///
    /// `Debug` prints a redaction, there is no `Display`, and the only way to read the
    /// secret is [`ClientSecret::expose_secret`].
    ClientSecret
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_and_compared() {
        let t = AccessToken::new("eyJ-canary");
        assert_eq!(format!("{t:?}"), "AccessToken(<redacted>)");
        let s = ClientSecret::from("shh-canary");
        assert_eq!(format!("{s:?}"), "ClientSecret(<redacted>)");
        assert_eq!(t, AccessToken::from("eyJ-canary".to_owned()));
        assert_ne!(t, AccessToken::from("eyJ-canarx"));
        assert!(AccessToken::new("  ").is_empty());
        let back: AccessToken = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back.expose_secret(), "eyJ-canary");
    }
}
