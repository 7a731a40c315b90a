//! The upstream wire fixtures (see `data/README.md` for where each comes from), compiled
//! into the tests with `include_bytes!`: paths are those under `data/`, such as
//! `"sql-api/query-ok.json"`.

use carto_core::HttpResponse;

macro_rules! fixtures {
    ($($path:literal,)*) => {
        /// Every fixture: its path under `data/` and its bytes.
        pub const ALL: &[(&str, &[u8])] = &[$(($path, include_bytes!(concat!("../data/", $path))),)*];
    };
}

// The files of `data/` (`every_file_is_listed` checks this list against the directory).
fixtures! {
    "auth-api/api-key-list-page.json",
    "auth-api/api-key-regular.json",
    "auth-api/create-request-data-observatory.json",
    "auth-api/create-request-empty-apis.json",
    "auth-api/create-request.json",
    "auth-api/error-404-not-found.json",
    "auth-api/error-422-duplicate-name.json",
    "batch/create-request-fallback.json",
    "batch/create-request.json",
    "batch/error-cancel-done.json",
    "batch/error-missing-query.json",
    "batch/error-not-found.json",
    "batch/error-permission-denied.json",
    "batch/job-cancelled.json",
    "batch/job-done.json",
    "batch/job-failed.json",
    "batch/job-fallback.json",
    "batch/job-multi-query.json",
    "batch/job-pending.headers.txt",
    "batch/job-pending.json",
    "carto3/error-400-description.json",
    "carto3/error-400-model-hint.json",
    "carto3/error-401-token-not-defined.json",
    "carto3/error-403-permissions.json",
    "carto3/error-403-unauthorized-referer.json",
    "carto3/job-create-request.json",
    "carto3/job-created.json",
    "carto3/query-post-request.json",
    "carto3/query-postgres-params.json",
    "carto3/query-response.json",
    "carto3/token-cli.json",
    "carto3/token-create-request.json",
    "copy/copyfrom-error-gzip.json",
    "copy/copyfrom-error-relation.json",
    "copy/copyfrom-ok.json",
    "copy/copyfrom-request.csv",
    "copy/copyto-endpoints-test-prefix.headers.txt",
    "copy/copyto-endpoints-test-prefix.txt",
    "copy/copyto-output.txt",
    "do/error-500-central.json",
    "do/token-spec-stub.json",
    "me/me.json",
    "sql-api/error-400-hint.json",
    "sql-api/error-400-invalid-format.headers.txt",
    "sql-api/error-400-invalid-format.json",
    "sql-api/error-400-missing-q.json",
    "sql-api/error-400.headers.txt",
    "sql-api/error-400.json",
    "sql-api/error-401-unauthorized.json",
    "sql-api/error-403-permission-denied.json",
    "sql-api/error-403-system-tables.json",
    "sql-api/error-404-unknown-user.headers.txt",
    "sql-api/error-404-unknown-user.json",
    "sql-api/error-429-rate-limit.headers.txt",
    "sql-api/error-429-rate-limit.json",
    "sql-api/error-429-timeout.headers.txt",
    "sql-api/error-429-timeout.json",
    "sql-api/geojson-ok.json",
    "sql-api/notices.json",
    "sql-api/query-200-with-midstream-error.headers.txt",
    "sql-api/query-200-with-midstream-error.json",
    "sql-api/query-count-docs.json",
    "sql-api/query-fields-pgtypes.json",
    "sql-api/query-insert-ok.json",
    "sql-api/query-ok.json",
    "sql-api/rate-limit-allowed.headers.txt",
}

/// The bytes of fixture `path`; panics naming the path when there is no such fixture.
pub fn fixture(path: &str) -> &'static [u8] {
    ALL.iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
        .unwrap_or_else(|| panic!("no fixture `{path}` in carto-test-support/data"))
}

/// The file of fixture `path` on disk, for APIs that take a path.
pub fn fixture_path(path: &str) -> std::path::PathBuf {
    fixture(path);
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(path)
}

/// Fixture `path` as text.
pub fn fixture_str(path: &str) -> &'static str {
    std::str::from_utf8(fixture(path)).unwrap_or_else(|e| panic!("fixture `{path}`: {e}"))
}

/// The status line and headers upstream shows for fixture `path` (its sibling
/// `<stem>.headers.txt`), when there is one: the status and `(name, value)` pairs.
pub fn fixture_head(path: &str) -> Option<(u16, Vec<(&'static str, &'static str)>)> {
    let stem = path.rsplit_once('.').map_or(path, |(stem, _)| stem);
    let head_path = format!("{stem}.headers.txt");
    let (_, bytes) = ALL.iter().find(|(p, _)| *p == head_path)?;
    let text = std::str::from_utf8(bytes).expect("utf-8 headers");
    let mut lines = text.lines();
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{head_path}: bad status line {status_line:?}"));
    let headers = lines
        .map(|line| {
            line.split_once(": ")
                .unwrap_or_else(|| panic!("{head_path}: bad header line {line:?}"))
        })
        .collect();
    Some((status, headers))
}

/// Fixture `path` as a response: the status and headers of its `.headers.txt` when it has
/// one, else `status` with a JSON content type.
pub fn fixture_response(path: &str, status: u16) -> HttpResponse {
    let mut builder = http::Response::builder();
    match fixture_head(path) {
        Some((code, headers)) => {
            builder = builder.status(code);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
        }
        None => {
            builder = builder
                .status(status)
                .header("content-type", "application/json; charset=utf-8");
        }
    }
    builder
        .body(fixture(path).to_vec())
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_listed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.file_name().is_some_and(|n| n != "README.md") {
                    let rel = path.strip_prefix(&root).unwrap().to_str().unwrap();
                    on_disk.push(rel.replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = ALL.iter().map(|(p, _)| (*p).to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn heads_and_responses() {
        let (status, headers) = fixture_head("sql-api/error-429-rate-limit.json").unwrap();
        assert_eq!(status, 429);
        assert!(
            headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
        );
        assert!(fixture_head("sql-api/query-ok.json").is_none());
        let r = fixture_response("sql-api/query-ok.json", 200);
        assert_eq!(r.status(), 200);
        assert_eq!(r.body(), fixture("sql-api/query-ok.json"));
    }

    #[test]
    #[should_panic(expected = "no fixture `nope.json`")]
    fn unknown_fixture_is_named() {
        fixture("nope.json");
    }
}
