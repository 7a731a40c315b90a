//! How CARTO finds the API key in a request (§2 of the protocol notes).
//!
//! Two pure functions, no I/O:
//! * [`extract_sql`]: the SQL API's rules (Node service). The token that selects the
//!   database role is the **first** credential found (HTTP Basic, then query `api_key`
//!   / `map_key`, then body `api_key` / `map_key`), while the token verified for the
//!   authorization level is the **last** `api_key` (body, then query, then the first
//!   hit). A Basic username other than the URL user is refused.
//! * [`extract_auth_api`]: the Auth API's rules (Rails). HTTP Basic wins (its username
//!   must be the URL user, with no fall back); otherwise the `api_key` parameter (query
//!   over body).
//!
//! Parameters are passed as `(name, value)` pairs in request order; a name given more
//! than once counts with its last value.

use base64::Engine as _;

use carto_core::Token;

/// A credential in a request that CARTO refuses before looking any key up.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthExtractError {
    /// The HTTP Basic username is not the user of the URL (SQL API: `403
    /// {"error":["permission denied"]}`; Auth API: `401` with an empty body).
    #[error("the HTTP Basic username is not the user of the URL")]
    BasicUserMismatch,
}

/// What the SQL API takes from a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlCredentials {
    /// The token whose key gives the database role and password: the first credential
    /// found. `None` (nothing found, or an empty Basic password) means the Default public
    /// key.
    pub role_token: Option<Token>,
    /// The token verified for the authorization level: the last `api_key` given.
    /// `None` (absent or empty) means no verification: the request is anonymous
    /// (treated as non-master everywhere).
    pub verified_token: Option<Token>,
}

impl SqlCredentials {
    /// The token selecting the database role, with the Default public key standing in
    /// for no credential (`res.locals.api_key || "default_public"`).
    pub fn role_token_or_default(&self) -> Token {
        self.role_token
            .clone()
            .unwrap_or_else(Token::default_public)
    }
}

/// The parts of an HTTP Basic `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BasicCredentials {
    /// The username (before the first `:`).
    pub username: String,
    /// The password, i.e. the API key token (after the first `:`; may be empty).
    pub token: Token,
}

/// Parses `Authorization: Basic ...` the way the SQL API does (npm `basic-auth`):
/// scheme case-insensitive, base64 of `name:pass` split at the first `:`. `None` when
/// the header is not Basic, not decodable, or has no `:`.
pub(crate) fn parse_basic_sql(authorization: &str) -> Option<BasicCredentials> {
    let rest = authorization.trim_start_matches(' ');
    let (scheme, rest) = rest.split_at_checked(5)?;
    if !scheme.eq_ignore_ascii_case("basic") || !rest.starts_with(' ') {
        return None;
    }
    let word = rest.trim_matches(' ');
    let body = word.trim_end_matches('=');
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._~+/-".contains(c))
        || word[body.len()..].chars().any(|c| c != '=')
    {
        return None;
    }
    let decoded = lenient_base64(body)?;
    split_user_pass(&decoded)
}

/// Parses a Basic header the way CARTO's Rails app does: `basic <word chars>`
/// (case-insensitive), where the base64 text stops at the first character that is not
/// `[A-Za-z0-9_]` (padding is dropped), decoded leniently.
pub(crate) fn parse_basic_rails(authorization: &str) -> Option<BasicCredentials> {
    let (scheme, rest) = authorization.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if word.is_empty() {
        return None;
    }
    // Ruby's decode64 skips characters outside the alphabet (here `_`).
    let cleaned: String = word.chars().filter(|c| *c != '_').collect();
    let decoded = lenient_base64(&cleaned)?;
    split_user_pass(&decoded)
}

fn lenient_base64(text: &str) -> Option<String> {
    // Node's and Ruby's decoders accept the URL-safe alphabet and missing padding.
    let mut normalized = Vec::with_capacity(text.len());
    normalized.extend(text.bytes().filter_map(|b| match b {
        b'-' => Some(b'+'),
        b'_' => Some(b'/'),
        b'.' | b'~' => None,
        b => Some(b),
    }));
    // Built once: `GeneralPurpose::new` fills the decode table.
    const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    static LENIENT: base64::engine::GeneralPurpose = ENGINE;
    let engine = &LENIENT;
    // A dangling single character cannot encode a byte; drop it as lenient decoders do.
    let usable = if normalized.len() % 4 == 1 {
        &normalized[..normalized.len() - 1]
    } else {
        &normalized[..]
    };
    let bytes = engine.decode(usable).ok()?;
    Some(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

fn split_user_pass(decoded: &str) -> Option<BasicCredentials> {
    let (user, pass) = decoded.split_once(':')?;
    Some(BasicCredentials {
        username: user.to_owned(),
        token: Token::new(pass),
    })
}

/// The last value of parameter `name`, if given (possibly empty).
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The non-empty value of `name`, else of `alias`.
fn truthy_param<'a>(pairs: &'a [(String, String)], name: &str, alias: &str) -> Option<&'a str> {
    param(pairs, name)
        .filter(|v| !v.is_empty())
        .or_else(|| param(pairs, alias).filter(|v| !v.is_empty()))
}

/// The SQL API's credential extraction (§2.1).
///
/// `url_user` is the user of the URL (host label or `/user/{user}`), `authorization`
/// the `Authorization` header value, `query` and `body` the request's parameters (the
/// body's only for JSON, form and multipart bodies of non-GET/HEAD requests).
pub(crate) fn extract_sql(
    url_user: &str,
    authorization: Option<&str>,
    query: &[(String, String)],
    body: &[(String, String)],
) -> Result<SqlCredentials, AuthExtractError> {
    // First hit wins: Basic, then query api_key/map_key, then body api_key/map_key.
    let first_hit: Option<String> = if let Some(basic) = authorization.and_then(parse_basic_sql) {
        if basic.username != url_user {
            return Err(AuthExtractError::BasicUserMismatch);
        }
        Some(basic.token.expose_secret().to_owned())
    } else {
        truthy_param(query, "api_key", "map_key")
            .or_else(|| truthy_param(body, "api_key", "map_key"))
            .map(str::to_owned)
    };
    // Object.assign({}, res.locals, req.query, req.body).api_key: last defined wins.
    let verified = param(body, "api_key")
        .map(str::to_owned)
        .or_else(|| param(query, "api_key").map(str::to_owned))
        .or_else(|| first_hit.clone());
    Ok(SqlCredentials {
        role_token: first_hit.filter(|t| !t.is_empty()).map(Token::new),
        verified_token: verified.filter(|t| !t.is_empty()).map(Token::new),
    })
}

/// The Auth API's credential extraction (§2.2): the token to authenticate with, or
/// `None` when the request carries no credential (the Auth API then answers `401`).
///
/// A Basic header wins; its username must be the URL user (no fall back to
/// `api_key`). Otherwise the non-empty `api_key` parameter, the query's over the
/// body's.
pub(crate) fn extract_auth_api(
    url_user: &str,
    authorization: Option<&str>,
    query: &[(String, String)],
    body: &[(String, String)],
) -> Result<Option<Token>, AuthExtractError> {
    if let Some(basic) = authorization.and_then(parse_basic_rails) {
        if basic.username != url_user {
            return Err(AuthExtractError::BasicUserMismatch);
        }
        return Ok(Some(basic.token));
    }
    let token = param(query, "api_key")
        .or_else(|| param(body, "api_key"))
        .filter(|t| !t.is_empty());
    Ok(token.map(Token::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn tok(s: &str) -> Option<Token> {
        Some(Token::new(s))
    }

    #[test]
    fn sql_no_credential_is_default_public_and_anonymous() {
        let c = extract_sql("alice", None, &[], &[]).unwrap();
        assert_eq!(c.role_token, None);
        assert_eq!(c.verified_token, None);
        assert!(c.role_token_or_default().is_default_public());
    }

    #[test]
    fn sql_basic_only() {
        let h = basic("alice", "k1");
        let c = extract_sql("alice", Some(&h), &[], &[]).unwrap();
        assert_eq!(c.role_token, tok("k1"));
        assert_eq!(c.verified_token, tok("k1"));
    }

    #[test]
    fn sql_basic_user_mismatch_is_refused_case_sensitive() {
        let h = basic("bob", "k1");
        assert_eq!(
            extract_sql("alice", Some(&h), &[], &[]),
            Err(AuthExtractError::BasicUserMismatch)
        );
        let h = basic("Alice", "k1");
        assert_eq!(
            extract_sql("alice", Some(&h), &pairs(&[("api_key", "x")]), &[]),
            Err(AuthExtractError::BasicUserMismatch)
        );
    }

    #[test]
    fn sql_basic_empty_password_stops_search_and_means_default() {
        let h = basic("alice", "");
        let q = pairs(&[("map_key", "q1")]);
        let c = extract_sql("alice", Some(&h), &q, &[]).unwrap();
        // The search stopped at Basic: the query map_key does not select the role.
        assert_eq!(c.role_token, None);
        assert_eq!(c.verified_token, None);
    }

    #[test]
    fn sql_basic_token_may_contain_colons() {
        let h = basic("alice", "a:b:c");
        let c = extract_sql("alice", Some(&h), &[], &[]).unwrap();
        assert_eq!(c.role_token, tok("a:b:c"));
    }

    #[test]
    fn sql_malformed_basic_is_ignored() {
        for h in [
            "Basic",
            "Basic !!!",
            "Bearer abc",
            "Basic Zm9v", /* "foo": no colon */
        ] {
            let c = extract_sql("alice", Some(h), &pairs(&[("api_key", "q1")]), &[]).unwrap();
            assert_eq!(c.role_token, tok("q1"), "{h}");
        }
    }

    #[test]
    fn sql_basic_scheme_case_insensitive() {
        let h = basic("alice", "k1").replacen("Basic", "bAsIc", 1);
        let c = extract_sql("alice", Some(&h), &[], &[]).unwrap();
        assert_eq!(c.role_token, tok("k1"));
    }

    #[test]
    fn sql_query_api_key_then_map_key() {
        let c = extract_sql("alice", None, &pairs(&[("api_key", "q1")]), &[]).unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("q1"), tok("q1")));
        let c = extract_sql("alice", None, &pairs(&[("map_key", "m1")]), &[]).unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("m1"), tok("m1")));
        let c = extract_sql(
            "alice",
            None,
            &pairs(&[("map_key", "m1"), ("api_key", "q1")]),
            &[],
        )
        .unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("q1"), tok("q1")));
    }

    #[test]
    fn sql_empty_query_api_key_is_ignored() {
        let c = extract_sql("alice", None, &pairs(&[("api_key", "")]), &[]).unwrap();
        assert_eq!((c.role_token, c.verified_token), (None, None));
        // Empty api_key falls back to map_key for the role, but the verified api_key is
        // the empty one (Object.assign keeps a defined empty value): anonymous level.
        let c = extract_sql(
            "alice",
            None,
            &pairs(&[("api_key", ""), ("map_key", "m1")]),
            &[],
        )
        .unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("m1"), None));
    }

    #[test]
    fn sql_body_only() {
        let c = extract_sql("alice", None, &[], &pairs(&[("api_key", "b1")])).unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("b1"), tok("b1")));
        let c = extract_sql("alice", None, &[], &pairs(&[("map_key", "bm")])).unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("bm"), tok("bm")));
    }

    #[test]
    fn sql_role_from_first_hit_level_from_last() {
        // Basic A + query B: role A, level B.
        let h = basic("alice", "A");
        let c = extract_sql("alice", Some(&h), &pairs(&[("api_key", "B")]), &[]).unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("A"), tok("B")));
        // query B + body C: role B, level C.
        let c = extract_sql(
            "alice",
            None,
            &pairs(&[("api_key", "B")]),
            &pairs(&[("api_key", "C")]),
        )
        .unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("B"), tok("C")));
        // Basic A + query B + body C: role A, level C.
        let c = extract_sql(
            "alice",
            Some(&h),
            &pairs(&[("api_key", "B")]),
            &pairs(&[("api_key", "C")]),
        )
        .unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("A"), tok("C")));
        // Body map_key does not count for the level.
        let c = extract_sql(
            "alice",
            None,
            &pairs(&[("api_key", "B")]),
            &pairs(&[("map_key", "C")]),
        )
        .unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("B"), tok("B")));
        // An empty body api_key makes the request anonymous, the role stays.
        let c = extract_sql(
            "alice",
            None,
            &pairs(&[("api_key", "B")]),
            &pairs(&[("api_key", "")]),
        )
        .unwrap();
        assert_eq!((c.role_token, c.verified_token), (tok("B"), None));
    }

    #[test]
    fn sql_repeated_param_uses_last_value() {
        let c = extract_sql(
            "alice",
            None,
            &pairs(&[("api_key", "one"), ("api_key", "two")]),
            &[],
        )
        .unwrap();
        assert_eq!(c.role_token, tok("two"));
    }

    #[test]
    fn basic_sql_parser_edge_cases() {
        let b = parse_basic_sql(&basic("alice", "tok")).unwrap();
        assert_eq!(b.username, "alice");
        assert_eq!(b.token, Token::new("tok"));
        // Leading spaces and several spaces after the scheme.
        let enc = base64::engine::general_purpose::STANDARD.encode("alice:tok");
        assert!(parse_basic_sql(&format!("  Basic   {enc}  ")).is_some());
        // Missing padding is accepted.
        let enc = base64::engine::general_purpose::STANDARD.encode("alice:to");
        assert!(enc.ends_with('='));
        let b = parse_basic_sql(&format!("Basic {}", enc.trim_end_matches('='))).unwrap();
        assert_eq!(b.token, Token::new("to"));
        assert!(parse_basic_sql("Basicxyz").is_none());
        assert!(parse_basic_sql("Basic a=b").is_none());
        // Empty username is allowed by the parser (and then mismatches the URL user).
        let b = parse_basic_sql(&basic("", "tok")).unwrap();
        assert_eq!(b.username, "");
    }

    #[test]
    fn auth_api_basic_wins_and_mismatch_has_no_fallback() {
        let h = basic("alice", "A");
        assert_eq!(
            extract_auth_api("alice", Some(&h), &pairs(&[("api_key", "B")]), &[]),
            Ok(tok("A"))
        );
        let h = basic("bob", "A");
        assert_eq!(
            extract_auth_api("alice", Some(&h), &pairs(&[("api_key", "B")]), &[]),
            Err(AuthExtractError::BasicUserMismatch)
        );
    }

    #[test]
    fn auth_api_params_query_over_body_and_no_map_key() {
        assert_eq!(
            extract_auth_api(
                "alice",
                None,
                &pairs(&[("api_key", "Q")]),
                &pairs(&[("api_key", "B")])
            ),
            Ok(tok("Q"))
        );
        assert_eq!(
            extract_auth_api("alice", None, &[], &pairs(&[("api_key", "B")])),
            Ok(tok("B"))
        );
        assert_eq!(
            extract_auth_api("alice", None, &pairs(&[("map_key", "M")]), &[]),
            Ok(None)
        );
        assert_eq!(
            extract_auth_api("alice", None, &pairs(&[("api_key", "")]), &[]),
            Ok(None)
        );
        assert_eq!(extract_auth_api("alice", None, &[], &[]), Ok(None));
    }

    #[test]
    fn auth_api_basic_quirks() {
        // Padding is dropped and decoding is lenient.
        let enc = base64::engine::general_purpose::STANDARD.encode("alice:to");
        let h = format!("basic {enc}");
        assert_eq!(extract_auth_api("alice", Some(&h), &[], &[]), Ok(tok("to")));
        // Not a Basic header: falls back to the api_key parameter.
        assert_eq!(
            extract_auth_api("alice", Some("Bearer x"), &pairs(&[("api_key", "Q")]), &[]),
            Ok(tok("Q"))
        );
        // No colon after decoding: not a Basic credential.
        let enc = base64::engine::general_purpose::STANDARD.encode("alice");
        let h = format!("Basic {enc}");
        assert_eq!(extract_auth_api("alice", Some(&h), &[], &[]), Ok(None));
        // Empty token.
        let h = basic("alice", "");
        assert_eq!(extract_auth_api("alice", Some(&h), &[], &[]), Ok(tok("")));
    }
}
