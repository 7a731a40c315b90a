//! The `referers` of an API access token checked against a request's `Origin` or `Referer`.
//!
//! A referer entry is an origin, optionally with a path (`https://app.example.com`,
//! `https://example.com/maps`, normalised without a trailing slash as CARTO stores them). A
//! request matches when its `Origin` (else its `Referer`) has the same scheme, host and port
//! (scheme and host compared case-insensitively, default ports implied) and, for a `Referer`
//! and an entry with a path, a path equal to it or below it on a `/` boundary (an `Origin`
//! has no path). A host is compared whole:
//! `https://good.com.evil.com` is not `https://good.com`. A request with neither header is
//! refused when the token has referers (a browser always sends one of them).

use url::Url;

/// Whether a request with these headers may use a token limited to `referers` (none: any).
pub(crate) fn allowed(referers: &[String], origin: Option<&str>, referer: Option<&str>) -> bool {
    if referers.is_empty() {
        return true;
    }
    let origin = origin.filter(|o| !o.trim().is_empty() && o.trim() != "null");
    // An `Origin` carries no path: it is compared with the entries' origins.
    let (sent, with_path) = match origin {
        Some(o) => (o, false),
        None => match referer {
            Some(r) => (r, true),
            None => return false,
        },
    };
    let Ok(sent) = Url::parse(sent.trim()) else {
        return false;
    };
    if sent.username() != "" || sent.password().is_some() {
        return false;
    }
    referers
        .iter()
        .any(|entry| matches(entry, &sent, with_path))
}

fn matches(entry: &str, sent: &Url, with_path: bool) -> bool {
    let Ok(entry) = Url::parse(entry.trim()) else {
        return false;
    };
    if !entry.has_host() || entry.username() != "" || entry.password().is_some() {
        return false;
    }
    // `Url` lower-cases the scheme and host and drops default ports.
    if entry.scheme() != sent.scheme()
        || entry.host_str() != sent.host_str()
        || entry.port_or_known_default() != sent.port_or_known_default()
    {
        return false;
    }
    let base = entry.path().trim_end_matches('/');
    if base.is_empty() || !with_path {
        return true;
    }
    let path = sent.path();
    path == base || path.strip_prefix(base).is_some_and(|r| r.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn origins_and_referers_match_whole_hosts() {
        let r = refs(&["https://good.com"]);
        assert!(allowed(&[], None, None));
        assert!(allowed(&r, Some("https://good.com"), None));
        assert!(allowed(&r, Some("HTTPS://GOOD.COM"), None));
        assert!(allowed(&r, Some("https://good.com:443"), None));
        assert!(allowed(&r, None, Some("https://good.com/page?x=1")));
        assert!(!allowed(&r, None, None));
        assert!(!allowed(&r, Some("https://good.com.evil.com"), None));
        assert!(!allowed(&r, None, Some("https://good.com.evil.com/")));
        assert!(!allowed(
            &r,
            None,
            Some("https://evil.com/https://good.com")
        ));
        assert!(!allowed(
            &r,
            None,
            Some("https://evil.com/?r=https://good.com")
        ));
        assert!(!allowed(&r, Some("http://good.com"), None));
        assert!(!allowed(&r, Some("https://good.com:8443"), None));
        assert!(!allowed(&r, Some("https://sub.good.com"), None));
        assert!(!allowed(&r, Some("https://good.com@evil.com"), None));
        assert!(!allowed(&r, Some("https://user@good.com"), None));
        assert!(!allowed(&r, Some("good.com"), None));
        // The Origin is what counts when both are sent.
        assert!(!allowed(
            &r,
            Some("https://evil.com"),
            Some("https://good.com/")
        ));
        // `Origin: null` (sandboxed frames) falls back to the Referer.
        assert!(allowed(&r, Some("null"), Some("https://good.com/a")));
    }

    #[test]
    fn paths_match_on_segment_boundaries() {
        let r = refs(&["https://example.com/maps"]);
        assert!(allowed(&r, None, Some("https://example.com/maps")));
        assert!(allowed(&r, None, Some("https://example.com/maps/1")));
        assert!(!allowed(&r, None, Some("https://example.com/mapsevil")));
        assert!(!allowed(&r, None, Some("https://example.com/")));
        // An Origin carries no path: its origin is compared.
        assert!(allowed(&r, Some("https://example.com"), None));
        assert!(!allowed(&r, Some("https://example.org"), None));
    }
}
