//! Golden requests of the SQL API endpoints and the upstream fixtures as responses.

use std::time::Duration;

use crate::common;

use carto_core::{AuthPlacement, Endpoint, Error};
use carto_sql::{Format, Geometry, MAX_GET_QUERY_LEN, Query, QueryOptions, SqlResponse};
use common::{ctx, data, fixture_response, render, response};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

#[test]
fn post_form_by_default() {
    let req = Query::new("select 1")
        .json::<Value>()
        .to_request(&ctx(AuthPlacement::BasicHeader))
        .unwrap();
    assert_eq!(req.method(), Method::POST);
    insta::assert_snapshot!("post_basic", render(&req));
    let req = Query::new("select 1")
        .json::<Value>()
        .to_request(&ctx(AuthPlacement::BodyField))
        .unwrap();
    insta::assert_snapshot!("post_body_field", render(&req));
    let req = Query::new("select 1")
        .json::<Value>()
        .to_request(&ctx(AuthPlacement::QueryParam))
        .unwrap();
    insta::assert_snapshot!("post_query_param", render(&req));
}

#[test]
fn get_only_when_asked_and_short() {
    let opts = QueryOptions::new().use_get(true);
    let req = Query::new("select 1")
        .with_options(opts.clone())
        .json::<Value>()
        .to_request(&ctx(AuthPlacement::BasicHeader))
        .unwrap();
    assert_eq!(req.method(), Method::GET);
    insta::assert_snapshot!("get_short", render(&req));
    let just_short = format!("select '{}'", "x".repeat(MAX_GET_QUERY_LEN - 10));
    assert_eq!(just_short.len(), MAX_GET_QUERY_LEN - 1);
    let q = Query::new(just_short).with_options(opts.clone());
    assert!(q.is_get());
    let too_long = format!("select '{}'", "x".repeat(MAX_GET_QUERY_LEN - 9));
    assert_eq!(too_long.len(), MAX_GET_QUERY_LEN);
    let q = Query::new(too_long).with_options(opts);
    assert!(!q.is_get());
    let req = q
        .json::<Value>()
        .to_request(&ctx(AuthPlacement::BasicHeader))
        .unwrap();
    assert_eq!(req.method(), Method::POST);
    assert!(req.uri().query().unwrap_or("").len() < 100);
}

#[test]
fn every_option_and_format() {
    let opts = QueryOptions::new()
        .skipfields(["the_geom", "the_geom_webmercator"])
        .filename("my data")
        .dp(3)
        .page(2, 50);
    let basic = ctx(AuthPlacement::BasicHeader);
    let q = Query::new("SELECT * FROM tornadoes WHERE yr = 2023").with_options(opts.clone());
    insta::assert_snapshot!(
        "csv_all_options",
        render(&q.clone().export(Format::Csv).to_request(&basic).unwrap())
    );
    insta::assert_snapshot!(
        "geojson_get",
        render(
            &q.with_options(opts.use_get(true))
                .geojson()
                .to_request(&basic)
                .unwrap()
        )
    );
}

#[test]
fn bad_input_is_rejected_before_any_request() {
    let basic = ctx(AuthPlacement::BasicHeader);
    let e = Query::new("  ")
        .json::<Value>()
        .to_request(&basic)
        .unwrap_err();
    assert!(e.is_invalid_input());
    let e = Query::new("select 1")
        .with_options(QueryOptions::new().skipfields(["a,b"]))
        .json::<Value>()
        .to_request(&basic)
        .unwrap_err();
    assert!(e.to_string().contains("skipfields"), "{e}");
    let e = Query::new("select 1")
        .with_options(QueryOptions::new().page(0, 0))
        .json::<Value>()
        .to_request(&basic)
        .unwrap_err();
    assert!(e.to_string().contains("rows_per_page"), "{e}");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Row {
    column_a: String,
    column_b: i64,
    column_c: String,
}

#[test]
fn query_ok_typed_rows_and_fields() {
    let resp: SqlResponse<Row> = Query::new("select")
        .json()
        .parse(fixture_response("query-ok.json", 200))
        .unwrap();
    assert_eq!(
        resp.rows,
        [Row {
            column_a: "A".into(),
            column_b: 123,
            column_c: "0123456789ABCDEF".into()
        }]
    );
    assert_eq!(resp.time, Some(Duration::from_secs_f64(0.001)));
    assert_eq!(resp.total_rows, 1);
    let names: Vec<&str> = resp.fields.names().collect();
    assert_eq!(names, ["column_a", "column_b", "column_c"]);
    let b = resp.fields.get("column_b").unwrap();
    assert_eq!(
        (b.field_type.as_str(), b.pgtype.as_deref()),
        ("number", Some("int4"))
    );
    let c = resp.fields.get("column_c").unwrap();
    assert!(c.is_spatial());
    assert_eq!(c.wkbtype.as_deref(), Some("Unknown"));
    assert_eq!((c.dims, c.srid), (Some(2), Some(4326)));
}

#[test]
fn count_insert_fields_notices() {
    #[derive(Deserialize)]
    struct Count {
        count: u64,
    }
    let resp: SqlResponse<Count> = Query::new("select count(*)")
        .json()
        .parse(fixture_response("query-count-docs.json", 200))
        .unwrap();
    assert_eq!(resp.rows[0].count, 4994);
    assert_eq!(
        (resp.total_rows, resp.time),
        (1, Some(Duration::from_secs_f64(0.007)))
    );
    assert!(resp.fields.is_empty());

    let resp: SqlResponse<Value> = Query::new("insert")
        .json()
        .parse(fixture_response("query-insert-ok.json", 200))
        .unwrap();
    assert_eq!((resp.rows.len(), resp.total_rows), (0, 2));

    let resp: SqlResponse<Value> = Query::new("select * from pgtypes_table")
        .json()
        .parse(fixture_response("query-fields-pgtypes.json", 200))
        .unwrap();
    let upstream: serde_json::Map<String, Value> =
        serde_json::from_slice::<Value>(&data("query-fields-pgtypes.json")).unwrap()["fields"]
            .as_object()
            .unwrap()
            .clone();
    assert_eq!(resp.fields.len(), upstream.len());
    assert_eq!(
        serde_json::to_value(&resp.fields).unwrap(),
        Value::Object(upstream.clone()),
        "fields round-trip in order"
    );
    let raster = resp.fields.get("raster").expect("raster column");
    assert_eq!(
        (raster.wkbtype.as_deref(), raster.dims, raster.srid),
        (None, Some(4), Some(-1))
    );
    assert!(raster.is_spatial());
    let z = resp.fields.get("geometry_pointz_4326").unwrap();
    assert_eq!(z.dims, Some(3));

    let resp: SqlResponse<Value> = Query::new("select raise")
        .json()
        .parse(fixture_response("notices.json", 200))
        .unwrap();
    assert_eq!(resp.notices, ["hello notice"]);
    assert!(resp.warnings.is_empty() && resp.infos.is_empty());
}

#[test]
fn a_200_with_an_error_key_is_an_api_error() {
    let err = Query::new("select 100/(cartodb_id - 3)")
        .json::<Value>()
        .parse(fixture_response("query-200-with-midstream-error.json", 200))
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::OK));
    assert_eq!(err.api_error().unwrap().messages(), ["division by zero"]);
    // Rows that arrived before the failure do not hide it.
    let err = Query::new("q")
        .json::<Row>()
        .parse(response(
            200,
            br#"{"rows":[{"x":1}],"time":0.1,"fields":{},"total_rows":1,"error":["division by zero"]}"#,
        ))
        .unwrap_err();
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    let err = Query::new("q")
        .geojson()
        .parse(response(
            200,
            br#"{"type": "FeatureCollection", "features": [],"error":["boom"]}"#,
        ))
        .unwrap_err();
    assert_eq!(err.api_error().unwrap().messages(), ["boom"]);
}

#[test]
fn error_fixtures() {
    let q = Query::new("SELECT star FROM this and that").json::<Value>();
    let err = q
        .parse(fixture_response("error-400.json", 400))
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert!(err.to_string().contains("syntax error"), "{err}");
    let err = q
        .parse(fixture_response("error-400-hint.json", 400))
        .unwrap_err();
    assert!(
        err.api_error()
            .unwrap()
            .hint()
            .unwrap()
            .starts_with("No function")
    );
    let err = q
        .parse(fixture_response("error-400-missing-q.json", 400))
        .unwrap_err();
    assert!(err.to_string().contains("sql query"), "{err}");
    let err = q
        .parse(fixture_response("error-400-invalid-format.json", 400))
        .unwrap_err();
    assert!(err.to_string().contains("Invalid format"), "{err}");
    let err = q
        .parse(fixture_response("error-401-unauthorized.json", 401))
        .unwrap_err();
    assert!(err.is_unauthorized());
    let err = q
        .parse(fixture_response("error-403-permission-denied.json", 403))
        .unwrap_err();
    assert!(err.is_forbidden());
    let err = q
        .parse(fixture_response("error-403-system-tables.json", 403))
        .unwrap_err();
    assert!(err.to_string().contains("system tables"), "{err}");
    let err = q
        .parse(fixture_response("error-404-unknown-user.json", 404))
        .unwrap_err();
    assert!(err.is_not_found());
    let err = q
        .parse(fixture_response("error-429-timeout.json", 429))
        .unwrap_err();
    assert!(err.is_timeout() && !err.is_rate_limited());
    let err = q
        .parse(fixture_response("error-429-rate-limit.json", 429))
        .unwrap_err();
    assert!(err.is_rate_limited() && !err.is_timeout());
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(1)));
    assert_eq!(err.api_error().unwrap().rate_limit().unwrap().remaining, 0);
}

#[test]
fn geojson_fixture_is_a_typed_feature_collection() {
    #[derive(Debug, Deserialize)]
    struct Props {
        year: String,
        month: u32,
        cartodb_id: i64,
    }
    let fc = Query::new("select * from tornadoes")
        .geojson()
        .parse(fixture_response("geojson-ok.json", 200))
        .unwrap();
    assert_eq!(fc.features.len(), 1);
    let f = &fc.features[0];
    assert_eq!(f.geometry, Some(Geometry::new_point([-97.335, 35.498])));
    // Properties decode into your own type with serde_json.
    let props: Props =
        serde_json::from_value(f.properties.clone().unwrap_or_default().into()).unwrap();
    assert_eq!((props.year.as_str(), props.month), ("  2011", 10));
    assert_eq!(props.cartodb_id, 1);
    assert_eq!(
        fc.features[0].property("day").and_then(Value::as_str),
        Some("11")
    );
}

#[test]
fn export_returns_the_body() {
    let csv = b"cartodb_id,name\r\n1,a\r\n";
    let out = Query::new("select")
        .export(Format::Csv)
        .parse(response(200, csv))
        .unwrap();
    assert_eq!(out, csv);
    let err = Query::new("select")
        .export(Format::Csv)
        .parse(fixture_response("error-400.json", 400))
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
}

#[test]
fn decode_errors_name_the_row() {
    let err = Query::new("q")
        .json::<Row>()
        .parse(fixture_response("query-count-docs.json", 200))
        .unwrap_err();
    let Error::Decode(d) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(d.path(), "rows[0]");
    assert!(d.message().contains("column_a"), "{d}");
}
