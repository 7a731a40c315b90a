//! The request parameters of `/api/v2/sql` (§4.1).

use serde_json::{Map, Value};

use crate::sql::error::ApiError;

/// Output formats the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// The default JSON document.
    Json,
    /// A GeoJSON FeatureCollection.
    GeoJson,
    /// CSV with a header row.
    Csv,
    /// CARTO 3's SQL API document `{"rows","schema","meta"}` (never chosen by a v2
    /// `format` parameter: the v3 routes ask for it), written whole once the query ended.
    Carto3,
}

impl Format {
    /// File extension for `Content-Disposition`.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Format::Json | Format::Carto3 => "json",
            Format::GeoJson => "geojson",
            Format::Csv => "csv",
        }
    }

    /// `Content-Type` of a successful response.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Json | Format::GeoJson | Format::Carto3 => "application/json; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8; header=present",
        }
    }
}

/// Formats CARTO accepts that the emulator does not produce.
const UNSUPPORTED: [&str; 7] = [
    "topojson",
    "svg",
    "arraybuffer",
    "shp",
    "kml",
    "spatialite",
    "gpkg",
];

/// Parsed parameters of one SQL API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryParams {
    pub(crate) q: String,
    pub(crate) format: Format,
    /// Whether `format` or `filename` was given (decides `inline` vs `attachment`).
    pub(crate) attachment: bool,
    pub(crate) filename: String,
    pub(crate) skipfields: Vec<String>,
    pub(crate) dp: u32,
    /// `(rows_per_page, page)` when both are integers.
    pub(crate) page: Option<(u64, u64)>,
    /// The legacy `order_by` column and whether `sort_order` is `desc` (any other value is
    /// ascending, as on CARTO).
    pub(crate) order_by: Option<(String, bool)>,
    pub(crate) callback: Option<String>,
}

/// A string parameter; arrays give their last element (Express' `qs` behaviour for formats).
fn last_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => items.last().and_then(last_string),
        _ => None,
    }
}

fn integer(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Replaces the characters CARTO replaces in download names.
pub(crate) fn sanitize_filename(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_whitespace() || ";()[]<>'\"".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Parses and validates the parameters, in CARTO's order: `q`, then `format`.
pub(crate) fn parse(params: &Map<String, Value>) -> Result<QueryParams, ApiError> {
    let q = match params.get("q") {
        Some(Value::String(q)) if !q.trim().is_empty() => q.clone(),
        _ => return Err(ApiError::bad_request("You must indicate a sql query")),
    };
    let format_param = params.get("format").and_then(last_string);
    let format = match format_param.as_deref().map(str::to_lowercase) {
        None => Format::Json,
        Some(f) => match f.as_str() {
            "json" => Format::Json,
            "geojson" => Format::GeoJson,
            "csv" => Format::Csv,
            other if UNSUPPORTED.contains(&other) => {
                return Err(ApiError::bad_request(format!(
                    "Format {other} is not supported by the CARTO emulator; supported formats are json, geojson and csv"
                )));
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid format: {}",
                    format_param.unwrap_or_default()
                )));
            }
        },
    };
    let filename_param = params.get("filename").and_then(last_string);
    let attachment = format_param.is_some() || filename_param.is_some();
    let filename = sanitize_filename(filename_param.as_deref().unwrap_or("cartodb-query"));
    let skipfields = match params.get("skipfields") {
        Some(Value::String(s)) => s
            .split(',')
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
        Some(Value::Array(items)) => items.iter().filter_map(last_string).collect(),
        _ => Vec::new(),
    };
    let dp = match params.get("dp") {
        None => 6,
        Some(v) => match integer(Some(v)) {
            Some(dp) if dp <= 15 => dp as u32,
            _ => {
                return Err(ApiError::bad_request(
                    "dp must be an integer between 0 and 15",
                ));
            }
        },
    };
    let page = match (
        integer(params.get("rows_per_page")),
        integer(params.get("page")),
    ) {
        (Some(rows), Some(page)) => Some((rows, page)),
        _ => None,
    };
    let order_by = params
        .get("order_by")
        .and_then(last_string)
        .filter(|c| !c.is_empty())
        .map(|column| {
            let desc = params
                .get("sort_order")
                .and_then(last_string)
                .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            (column, desc)
        });
    let callback = params
        .get("callback")
        .and_then(last_string)
        .filter(|c| !c.is_empty());
    Ok(QueryParams {
        q,
        format,
        attachment,
        filename,
        skipfields,
        dp,
        page,
        order_by,
        callback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use serde_json::json;

    fn p(v: Value) -> Result<QueryParams, ApiError> {
        parse(v.as_object().expect("object"))
    }

    #[test]
    fn missing_or_non_string_q() {
        for v in [
            json!({}),
            json!({"q": ""}),
            json!({"q": ["a", "b"]}),
            json!({"q": 1}),
        ] {
            let e = p(v).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert_eq!(
                e.body_json(),
                r#"{"error":["You must indicate a sql query"]}"#
            );
        }
    }

    #[test]
    fn defaults() {
        let q = p(json!({"q": "SELECT 1"})).unwrap();
        assert_eq!(q.format, Format::Json);
        assert!(!q.attachment);
        assert_eq!(q.filename, "cartodb-query");
        assert_eq!(q.dp, 6);
        assert_eq!(q.page, None);
        assert!(q.skipfields.is_empty());
        assert_eq!(q.callback, None);
    }

    #[test]
    fn formats() {
        assert_eq!(
            p(json!({"q": "x", "format": "GeoJSON"})).unwrap().format,
            Format::GeoJson
        );
        assert_eq!(
            p(json!({"q": "x", "format": ["json", "csv"]}))
                .unwrap()
                .format,
            Format::Csv
        );
        assert!(p(json!({"q": "x", "format": "json"})).unwrap().attachment);
        let e = p(json!({"q": "x", "format": "unknown"})).unwrap_err();
        assert_eq!(e.body_json(), r#"{"error":["Invalid format: unknown"]}"#);
        let e = p(json!({"q": "x", "format": "shp"})).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message.contains("shp") && e.message.contains("json, geojson and csv"),
            "{}",
            e.message
        );
    }

    #[test]
    fn other_params() {
        let q = p(
            json!({"q": "x", "skipfields": "a, b,,c", "page": "2", "rows_per_page": 10, "dp": "3",
            "filename": "my data;x", "callback": "cb"}),
        )
        .unwrap();
        assert_eq!(q.skipfields, vec!["a", "b", "c"]);
        assert_eq!(q.page, Some((10, 2)));
        assert_eq!(q.dp, 3);
        assert_eq!(q.filename, "my_data_x");
        assert!(q.attachment);
        assert_eq!(q.callback.as_deref(), Some("cb"));
        assert_eq!(
            p(json!({"q": "x", "skipfields": ["a", "b"]}))
                .unwrap()
                .skipfields,
            vec!["a", "b"]
        );
        assert_eq!(
            p(json!({"q": "x", "rows_per_page": 10})).unwrap().page,
            None
        );
        assert_eq!(
            p(json!({"q": "x", "rows_per_page": "ten", "page": 1}))
                .unwrap()
                .page,
            None
        );
        assert_eq!(
            p(json!({"q": "x", "dp": "1); DROP TABLE t; --"}))
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
    }
}
