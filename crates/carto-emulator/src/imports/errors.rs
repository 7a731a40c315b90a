//! CARTO's import error codes the emulator reaches, with their titles and sources (§6 of
//! the protocol notes); the `what_about` texts are the emulator's own words.

use serde_json::{Value, json};

/// 1001: the URL could not be downloaded.
pub(crate) const DOWNLOAD: i64 = 1001;
/// 1002: a format the emulator does not read (or no data at all).
pub(crate) const UNSUPPORTED: i64 = 1002;
/// 1005: the file has no data.
pub(crate) const EMPTY_FILE: i64 = 1005;
/// 1020: the download took too long.
pub(crate) const DOWNLOAD_TIMEOUT: i64 = 1020;
/// 1022: every table existed and `collision_strategy=skip`.
pub(crate) const ALL_SKIPPED: i64 = 1022;
/// 1100: the URL answered 404.
pub(crate) const NOT_FOUND: i64 = 1100;
/// 1101: the URL is not one the emulator may fetch.
pub(crate) const FORBIDDEN_URL: i64 = 1101;
/// 2003: a CSV that cannot be parsed.
pub(crate) const MALFORMED_CSV: i64 = 2003;
/// 2004: more than 250 columns.
pub(crate) const TOO_MANY_COLUMNS: i64 = 2004;
/// 2006: text that is not UTF-8.
pub(crate) const ENCODING: i64 = 2006;
/// 2011: a `cartodb_id` column that cannot be the key.
pub(crate) const INVALID_CARTODB_ID: i64 = 2011;
/// 2001: PostgreSQL refused the data.
pub(crate) const UNABLE_TO_LOAD: i64 = 2001;
/// 3007: JSON that is not GeoJSON.
pub(crate) const INVALID_GEOJSON: i64 = 3007;
/// 6666: larger than the emulator's limit.
pub(crate) const TOO_BIG: i64 = 6666;
/// 99999: anything else.
pub(crate) const UNKNOWN: i64 = 99999;

/// `get_error_text` for a code: `{title, what_about, source}`.
pub(crate) fn text(code: i64) -> Value {
    let (title, what_about, source) = match code {
        DOWNLOAD => (
            "Download error",
            "The file could not be downloaded from its URL. Check that the URL is right and reachable.",
            "user",
        ),
        UNSUPPORTED => (
            "Unsupported/Unrecognized file type",
            "The file's format is not one that can be imported here (or no file was sent).",
            "user",
        ),
        EMPTY_FILE => ("Empty file", "The file has no data to import.", "user"),
        DOWNLOAD_TIMEOUT => (
            "Download timeout",
            "The server of the URL took too long to send the file.",
            "user",
        ),
        ALL_SKIPPED => (
            "All tables were skipped",
            "Every table of the import already existed and the collision strategy was to skip them.",
            "user",
        ),
        NOT_FOUND => (
            "Download file not found",
            "The URL answered that there is no file there.",
            "user",
        ),
        FORBIDDEN_URL => (
            "Forbidden file URL",
            "The URL may not be fetched: only http and https URLs of public addresses are imported.",
            "user",
        ),
        MALFORMED_CSV => (
            "Malformed CSV",
            "The CSV file could not be read: check its quotes, separators and line lengths.",
            "user",
        ),
        TOO_MANY_COLUMNS => (
            "Too many columns (max 250)",
            "The file has more columns than a table may have after import.",
            "user",
        ),
        ENCODING => (
            "Encoding error",
            "The file is not UTF-8 text. Save it as UTF-8 and import it again.",
            "user",
        ),
        INVALID_CARTODB_ID => (
            "Invalid cartodb_id column",
            "The cartodb_id column must hold unique, non-null integers; rename it to import it as data.",
            "user",
        ),
        UNABLE_TO_LOAD => (
            "Unable to load data",
            "The database refused the file's data.",
            "user",
        ),
        INVALID_GEOJSON => (
            "JSON may not be valid GeoJSON",
            "The file is not a GeoJSON FeatureCollection, Feature or geometry, or a geometry is invalid.",
            "user",
        ),
        TOO_BIG => (
            "Dataset too big",
            "The file is larger than the import size limit.",
            "user",
        ),
        _ => (
            "Unknown",
            "The import failed for a reason the importer does not know.",
            "cartodb",
        ),
    };
    json!({"title": title, "what_about": what_about, "source": source})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_have_their_titles_and_others_are_unknown() {
        assert_eq!(
            text(UNSUPPORTED)["title"],
            "Unsupported/Unrecognized file type"
        );
        assert_eq!(text(EMPTY_FILE)["title"], "Empty file");
        assert_eq!(text(42)["title"], "Unknown");
        assert_eq!(text(42)["source"], "cartodb");
    }
}
