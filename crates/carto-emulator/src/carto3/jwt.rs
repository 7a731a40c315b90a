//! The emulator's CARTO 3 tokens: JSON Web Tokens signed with HMAC-SHA256 (`HS256`), the
//! form of CARTO's API access tokens (`{"alg":"HS256"}`, claims `{"a": account, "jti": id}`).
//!
//! Written on `hmac` + `sha2` (already in the dependency tree through PostgreSQL's SCRAM
//! client) rather than a JWT crate: the emulator signs and checks one algorithm with one
//! key, and accepting nothing else is the whole point. A token is refused unless its
//! header says exactly `HS256` (so `alg: none` and every other algorithm are refused before
//! the signature is looked at), its signature verifies (compared in constant time) and its
//! claims are a JSON object.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused (never says more to the client than "invalid").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwtError {
    /// Not three base64url parts of JSON.
    Malformed,
    /// A header other than `{"alg":"HS256"}` (with an optional `typ: JWT`).
    Algorithm,
    /// The signature does not verify with the emulator's key.
    Signature,
}

/// The signing key: 32 random bytes per emulator.
#[derive(Clone)]
pub(crate) struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// A new random key.
    pub(crate) fn random() -> Self {
        let mut key = [0u8; 32];
        rand::fill(&mut key[..]);
        Self(key)
    }

    fn mac(&self, signed: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(signed.as_bytes());
        mac
    }

    /// Signs `claims`: `base64url(header).base64url(claims).base64url(HMAC)`.
    pub(crate) fn sign(&self, claims: &Map<String, Value>) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
        let signed = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&signed).finalize().into_bytes());
        format!("{signed}.{signature}")
    }

    /// The claims of a token this key signed.
    pub(crate) fn verify(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Map<String, Value> = decode_json(header)?;
        let alg_ok = header.get("alg").and_then(Value::as_str) == Some("HS256");
        let others_ok = header.iter().all(|(k, v)| match k.as_str() {
            "alg" => true,
            "typ" => v.as_str() == Some("JWT"),
            _ => false,
        });
        if !alg_ok || !others_ok {
            return Err(JwtError::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::Malformed)?;
        let signed = &token[..header_len(token)];
        self.mac(signed)
            .verify_slice(&signature)
            .map_err(|_| JwtError::Signature)?;
        decode_json(payload)
    }
}

/// The length of `header.payload` in a three-part token.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn decode_json(part: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JwtError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn tokens_round_trip_and_forgeries_fail() {
        let key = SigningKey::random();
        let c = claims(json!({"a": "ac_12345678", "jti": "0a1b2c3d"}));
        let token = key.sign(&c);
        assert_eq!(key.verify(&token), Ok(c.clone()));
        // Another emulator's key.
        assert_eq!(
            SigningKey::random().verify(&token),
            Err(JwtError::Signature)
        );
        // Claims changed under the old signature.
        let parts: Vec<&str> = token.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(json!({"a": "ac_other", "jti": "0a1b2c3d"}).to_string());
        let tampered = format!("{}.{other}.{}", parts[0], parts[2]);
        assert_eq!(key.verify(&tampered), Err(JwtError::Signature));
        // `alg: none`, with or without a signature, and other algorithms.
        for header in [
            json!({"alg": "none"}),
            json!({"alg": "None", "typ": "JWT"}),
            json!({"alg": "HS512"}),
            json!({"alg": "RS256"}),
            json!({"alg": "HS256", "kid": "x"}),
            json!({"typ": "JWT"}),
        ] {
            let h = URL_SAFE_NO_PAD.encode(header.to_string());
            for sig in ["", parts[2]] {
                let forged = format!("{h}.{}.{sig}", parts[1]);
                assert_eq!(key.verify(&forged), Err(JwtError::Algorithm), "{header}");
            }
        }
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", &format!("{token}.")] {
            assert_eq!(key.verify(bad), Err(JwtError::Malformed), "{bad}");
        }
        // The signature of another payload.
        let second = key.sign(&claims(json!({"a": "ac_x", "jti": "1"})));
        let swapped = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            second.rsplit('.').next().unwrap()
        );
        assert_eq!(key.verify(&swapped), Err(JwtError::Signature));
    }

    #[test]
    fn the_key_is_never_printed() {
        assert_eq!(
            format!("{:?}", SigningKey::random()),
            "SigningKey(<redacted>)"
        );
    }
}
