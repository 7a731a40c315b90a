//! `query_arrow`, `copy_to_arrow` and `copy_from_arrow` end to end against the
//! in-process emulator (real HTTP, real PostgreSQL with PostGIS), sync on ureq and
//! async on reqwest: every mapped type with NULLs, both read paths, empty results,
//! batch boundaries, geometry WKB against PostGIS's own `ST_AsBinary` and round trips
//! back into tables, errors, and (feature `polars`) a DataFrame.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use arrow_array::{Array, RecordBatch, RecordBatchIterator};
use arrow_schema::{DataType, TimeUnit};
use carto_core::{Credentials, Error};
use carto_emulator::Emulator;
use carto_sql::arrow::{ArrowOptions, NumericAs, PGTYPE_KEY, SRID_KEY};
use carto_sql::arrow::{arrow_array, arrow_schema};
use carto_sql::copy::{AsyncCopyClient, CopyClient, CopyFromOptions};
use carto_sql::{AsyncSqlClient, SqlClient};
use carto_test_support::postgis;
use carto_transport::{ReqwestTransport, UreqTransport};
use futures_util::StreamExt;
use serde::de::IgnoredAny;

const TYPES_TABLE: &str = "
CREATE TABLE arrow_types (
  id int4 PRIMARY KEY, small int2, big int8, r float4, d float8, n numeric(12,3),
  t text, v varchar(10), b bool, day date, ts timestamp, tstz timestamptz,
  j json, jb jsonb, ints int4[], texts text[], u uuid, bin bytea,
  the_geom geometry(Geometry,4326)
);
INSERT INTO arrow_types VALUES
 (1, -2, 1234567890123, 1.5, 2.25, 12345.678, 'héllo \"q\", x', '', true, '2020-02-29',
  '2011-09-21 14:02:21', '2011-09-21 14:02:21+02', '{\"a\": [1, 2]}', '{\"b\": null}',
  '{1,NULL,3}', '{\"a b\",NULL,\"\"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x0102ff',
  'SRID=4326;POINT(1 2)'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL),
 (3, 32767, -5, -0.25, 'NaN', -0.001, E'line\\nbreak', 'v', false, '0044-03-15 BC',
  '1999-12-31 23:59:59.5', '2000-01-01 00:00:00.25+00', '[]', '\"s\"', '{}', '{}',
  NULL, '\\x', 'SRID=4326;POLYGON((0 0,1 0,1 1,0 0))');
CREATE TABLE arrow_types_copy (LIKE arrow_types);
";

const COLUMNS: [(&str, &str); 19] = [
    ("id", "int4"),
    ("small", "int2"),
    ("big", "int8"),
    ("r", "float4"),
    ("d", "float8"),
    ("n", "numeric"),
    ("t", "text"),
    ("v", "varchar"),
    ("b", "bool"),
    ("day", "date"),
    ("ts", "timestamp"),
    ("tstz", "timestamptz"),
    ("j", "JSON"),
    ("jb", "jsonb"),
    ("ints", "_int4"),
    ("texts", "_text"),
    ("u", "uuid"),
    ("bin", "bytea"),
    ("the_geom", "geometry"),
];

/// ISO WKB of POINT(1 2), little-endian.
const POINT_WKB: &str = "0101000000000000000000f03f0000000000000040";

fn run_sync(sql: &SqlClient<UreqTransport>, q: &str) {
    sql.query::<IgnoredAny>(q)
        .unwrap_or_else(|e| panic!("{q}: {e}"));
}

fn one(batches: Vec<RecordBatch>) -> RecordBatch {
    assert_eq!(batches.len(), 1, "one batch");
    batches.into_iter().next().unwrap()
}

fn col<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch.column_by_name(name).unwrap().as_ref()
}

/// Checks the types table as read by either path; `exact` for COPY (exact int8,
/// numeric text and sub-second timestamps).
fn check_types(batch: &RecordBatch, exact: bool) {
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, COLUMNS.map(|c| c.0));
    for (field, (_, pgtype)) in schema.fields().iter().zip(COLUMNS) {
        assert!(field.is_nullable());
        assert_eq!(
            field.metadata().get(PGTYPE_KEY).unwrap(),
            pgtype,
            "{field:?}"
        );
    }
    let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
    assert_eq!(types[1], &DataType::Int16);
    assert_eq!(types[9], &DataType::Date32);
    assert_eq!(types[10], &DataType::Timestamp(TimeUnit::Microsecond, None));
    assert_eq!(
        types[11],
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert!(matches!(types[14], DataType::List(f) if f.data_type() == &DataType::Int32));
    assert_eq!(types[16], &DataType::Utf8, "uuid has no mapping: text");
    assert_eq!(types[18], &DataType::Binary);
    let geom = schema.field(18);
    assert_eq!(geom.metadata().get(SRID_KEY).unwrap(), "4326");
    assert_eq!(
        geom.metadata().get("ARROW:extension:name").unwrap(),
        "geoarrow.wkb"
    );
    assert_eq!(batch.num_rows(), 3);

    // Row 2 is NULL in every column but id.
    for (i, c) in batch.columns().iter().enumerate().skip(1) {
        assert!(c.is_null(1), "column {i} row 2");
        // Row 3 has a NULL uuid too.
        assert_eq!(c.null_count(), 1 + usize::from(i == 16), "column {i}");
    }
    assert_eq!(
        col(batch, "id").as_primitive::<Int32Type>().values(),
        &[1, 2, 3]
    );
    let small = col(batch, "small").as_primitive::<Int16Type>();
    assert_eq!((small.value(0), small.value(2)), (-2, 32767));
    let big = col(batch, "big").as_primitive::<Int64Type>();
    assert_eq!((big.value(0), big.value(2)), (1_234_567_890_123, -5));
    let r = col(batch, "r").as_primitive::<Float32Type>();
    assert_eq!((r.value(0), r.value(2)), (1.5, -0.25));
    let d = col(batch, "d").as_primitive::<Float64Type>();
    assert_eq!(d.value(0), 2.25);
    assert!(d.value(2).is_nan());
    let n = col(batch, "n").as_string::<i32>();
    if exact {
        assert_eq!((n.value(0), n.value(2)), ("12345.678", "-0.001"));
    } else {
        // The SQL API writes numerics as JavaScript numbers.
        assert_eq!((n.value(0), n.value(2)), ("12345.678", "-0.001"));
    }
    let t = col(batch, "t").as_string::<i32>();
    assert_eq!((t.value(0), t.value(2)), ("héllo \"q\", x", "line\nbreak"));
    let v = col(batch, "v").as_string::<i32>();
    assert!(
        v.is_valid(0) && v.value(0).is_empty(),
        "empty string is not NULL"
    );
    let b = col(batch, "b").as_boolean();
    assert!(b.value(0) && !b.value(2));
    let day = col(batch, "day").as_primitive::<Date32Type>();
    assert_eq!(day.value(0), 18321);
    // 44 BC is the astronomical year -43.
    assert_eq!(day.value_as_date(2).unwrap().to_string(), "-0043-03-15");
    let ts = col(batch, "ts").as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), 1_316_613_741_000_000);
    let tstz = col(batch, "tstz").as_primitive::<TimestampMicrosecondType>();
    assert_eq!(tstz.value(0), 1_316_613_741_000_000 - 2 * 3_600_000_000);
    if exact {
        assert_eq!(ts.value(2), 946_684_799_500_000);
        assert_eq!(tstz.value(2), 946_684_800_250_000);
    } else {
        // The SQL API writes whole seconds.
        assert_eq!(ts.value(2), 946_684_799_000_000);
        assert_eq!(tstz.value(2), 946_684_800_000_000);
    }
    let j = col(batch, "j").as_string::<i32>();
    let jb = col(batch, "jb").as_string::<i32>();
    let j0: serde_json::Value = serde_json::from_str(j.value(0)).unwrap();
    assert_eq!(j0, serde_json::json!({"a": [1, 2]}));
    assert_eq!(j.value(2), "[]");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(jb.value(0)).unwrap(),
        serde_json::json!({"b": null})
    );
    assert_eq!(jb.value(2), "\"s\"");
    let ints = col(batch, "ints").as_list::<i32>();
    let first = ints.value(0);
    let first = first.as_primitive::<Int32Type>();
    assert_eq!(first.len(), 3);
    assert_eq!(
        (first.value(0), first.is_null(1), first.value(2)),
        (1, true, 3)
    );
    assert_eq!(ints.value(2).len(), 0);
    let texts = col(batch, "texts").as_list::<i32>();
    let texts0 = texts.value(0);
    let texts0 = texts0.as_string::<i32>();
    assert_eq!(texts0.value(0), "a b");
    assert!(texts0.is_null(1));
    assert!(texts0.is_valid(2) && texts0.value(2).is_empty());
    let u = col(batch, "u").as_string::<i32>();
    assert_eq!(u.value(0), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert!(u.is_null(2));
    let bin = col(batch, "bin").as_binary::<i32>();
    assert_eq!(bin.value(0), [1, 2, 255]);
    assert!(bin.is_valid(2) && bin.value(2).is_empty());
    let geom = col(batch, "the_geom").as_binary::<i32>();
    assert_eq!(hex::encode(geom.value(0)), POINT_WKB);
}

fn assert_invalid(result: Result<impl std::fmt::Debug, Error>, needle: &str) {
    let err = result.expect_err("an error");
    assert!(
        err.to_string().contains(needle),
        "`{err}` does not contain `{needle}`"
    );
}

/// What the tests against the emulator need PostGIS for.
const WHAT: &str = "Arrow against the emulator (every table there has a geometry column)";

#[test]
fn sync_arrow_against_the_emulator() {
    let emulator = Emulator::builder().user("alice").start_blocking().unwrap();
    if !postgis(emulator.has_postgis("alice"), WHAT) {
        return;
    }
    let creds: Credentials = emulator.credentials("alice").unwrap();
    let transport = UreqTransport::new();
    let sql = SqlClient::from_credentials(transport.clone(), creds.clone());
    let copy = CopyClient::from_credentials(transport, creds);
    run_sync(&sql, TYPES_TABLE);

    // Every type, both read paths.
    let query = "SELECT * FROM arrow_types ORDER BY id;";
    let json = sql.query_arrow(query).unwrap();
    assert_eq!(json.schema().fields().len(), 19);
    let mut json = json;
    let batch = one(json.by_ref().collect::<Result<_, _>>().unwrap());
    assert_eq!(json.summary().unwrap().total_rows, 3);
    check_types(&batch, false);
    let exact = one(copy
        .copy_to_arrow(query)
        .unwrap()
        .collect_batches()
        .unwrap());
    check_types(&exact, true);
    // COPY keeps int8 and numeric exact where JSON numbers cannot.
    let big = one(copy
        .copy_to_arrow_with(
            "SELECT 9007199254740993::int8 AS big, 123456789012345678.25::numeric AS n",
            &ArrowOptions::new().numeric(NumericAs::Decimal128 {
                precision: 38,
                scale: 2,
            }),
        )
        .unwrap()
        .collect_batches()
        .unwrap());
    assert_eq!(
        col(&big, "big").as_primitive::<Int64Type>().value(0),
        9_007_199_254_740_993
    );
    let n = col(&big, "n").as_primitive::<Decimal128Type>();
    assert_eq!(n.value(0), 12_345_678_901_234_567_825);
    assert_eq!(n.data_type(), &DataType::Decimal128(38, 2));

    // numeric as decimal and as float through JSON.
    let dec = one(sql
        .query_arrow_with(
            "SELECT n FROM arrow_types ORDER BY id",
            &ArrowOptions::new().numeric(NumericAs::Decimal128 {
                precision: 12,
                scale: 3,
            }),
        )
        .unwrap()
        .collect_batches()
        .unwrap());
    let n = col(&dec, "n").as_primitive::<Decimal128Type>();
    assert_eq!(
        (n.value(0), n.is_null(1), n.value(2)),
        (12_345_678, true, -1)
    );
    let float = one(sql
        .query_arrow_with(
            "SELECT n FROM arrow_types ORDER BY id",
            &ArrowOptions::new().numeric(NumericAs::Float64),
        )
        .unwrap()
        .collect_batches()
        .unwrap());
    assert_eq!(
        col(&float, "n").as_primitive::<Float64Type>().value(0),
        12345.678
    );
    // The schema alone, with and without options, is the one the batches have.
    let numeric = "SELECT n FROM arrow_types ORDER BY id";
    let as_text = sql.arrow_schema(numeric).unwrap();
    assert_eq!(as_text, sql.query_arrow(numeric).unwrap().schema());
    let as_float = sql
        .arrow_schema_with(numeric, &ArrowOptions::new().numeric(NumericAs::Float64))
        .unwrap();
    assert_eq!(as_float, float.schema());
    assert_ne!(as_text, as_float);

    // Empty results: the schema, no batch.
    for batches in [
        sql.query_arrow("SELECT * FROM arrow_types WHERE false")
            .unwrap(),
        copy.copy_to_arrow("SELECT * FROM arrow_types WHERE false")
            .unwrap(),
    ] {
        assert_eq!(batches.schema().fields().len(), 19);
        assert_eq!(batches.count(), 0);
    }

    // Batch boundaries.
    let series = "SELECT g AS n, 'r' || g AS s FROM generate_series(1, 2500) g ORDER BY g";
    for batches in [
        sql.query_arrow_with(series, &ArrowOptions::new().batch_rows(1000))
            .unwrap(),
        copy.copy_to_arrow_with(series, &ArrowOptions::new().batch_rows(1000))
            .unwrap(),
    ] {
        let batches = batches.collect_batches().unwrap();
        assert_eq!(
            batches
                .iter()
                .map(RecordBatch::num_rows)
                .collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        let mut expected = 1;
        for batch in &batches {
            let n = batch.column(0).as_primitive::<Int32Type>();
            let s = batch.column(1).as_string::<i32>();
            for i in 0..batch.num_rows() {
                assert_eq!(n.value(i), expected);
                assert_eq!(s.value(i), format!("r{expected}"));
                expected += 1;
            }
        }
    }

    // Every type back into a table through copy_from_arrow, from both read paths.
    for exact_path in [false, true] {
        run_sync(&sql, "TRUNCATE arrow_types_copy");
        let batches = if exact_path {
            copy.copy_to_arrow(query).unwrap()
        } else {
            sql.query_arrow(query).unwrap()
        };
        // The JSON path loads with the defaults, the exact one gzipped with a progress
        // callback.
        let sent = Arc::new(AtomicU64::new(0));
        let seen = sent.clone();
        let gzipped = CopyFromOptions::new()
            .gzip(1)
            .progress(move |n| seen.store(n, Ordering::Relaxed));
        let loaded = if exact_path {
            copy.copy_from_arrow_with("arrow_types_copy", batches.into_reader(), &gzipped)
        } else {
            copy.copy_from_arrow("arrow_types_copy", batches.into_reader())
        }
        .unwrap();
        assert_eq!(loaded.total_rows, 3);
        assert_eq!(sent.load(Ordering::Relaxed) > 0, exact_path);
        // Row by row, as PostgreSQL prints the whole row (json has no `=`).
        let differ = "SELECT src.id FROM arrow_types src FULL JOIN arrow_types_copy dst ON src.id = dst.id \
                      WHERE ROW(src.*)::text IS DISTINCT FROM ROW(dst.*)::text ORDER BY src.id";
        let rows = sql.query::<serde_json::Value>(differ).unwrap().rows;
        if exact_path {
            assert!(
                rows.is_empty(),
                "rows differ after the exact round trip: {rows:?}"
            );
        } else {
            // Through JSON, the SQL API rewrites row 1's `json` text (`{"a":[1,2]}`
            // for `{"a": [1, 2]}`) and drops row 3's sub-second timestamps.
            assert_eq!(
                rows,
                [serde_json::json!({"id": 1}), serde_json::json!({"id": 3})]
            );
        }
    }

    // Geometry: ISO WKB equal to PostGIS's ST_AsBinary, SRIDs, and a round trip.
    run_sync(
        &sql,
        "CREATE TABLE geo_src (id int, the_geom geometry(Geometry,4326), z geometry(MultiLineStringZ,4326));
         INSERT INTO geo_src VALUES
          (1, 'SRID=4326;POINT(1 2)', NULL),
          (2, 'SRID=4326;POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,2 1,2 2,1 1))', NULL),
          (3, NULL, 'SRID=4326;MULTILINESTRING Z((0 0 1,1 1 2),(2 2 3,3 3 4))'),
          (4, 'SRID=4326;GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))', NULL),
          (5, NULL, NULL);
         CREATE TABLE geo_dst (LIKE geo_src);",
    );
    let geo = one(sql
        .query_arrow("SELECT * FROM geo_src ORDER BY id")
        .unwrap()
        .collect_batches()
        .unwrap());
    let iso: Vec<serde_json::Value> = sql
        .query::<serde_json::Value>(
            "SELECT encode(ST_AsBinary(the_geom), 'hex') AS the_geom, \
             encode(ST_AsBinary(z), 'hex') AS z FROM geo_src ORDER BY id",
        )
        .unwrap()
        .rows;
    for name in ["the_geom", "z"] {
        let wkb = col(&geo, name).as_binary::<i32>();
        for (i, expected) in iso.iter().enumerate() {
            match expected[name].as_str() {
                Some(hex_wkb) => assert_eq!(hex::encode(wkb.value(i)), hex_wkb, "{name} {i}"),
                None => assert!(wkb.is_null(i)),
            }
        }
    }
    let loaded = copy
        .copy_from_arrow(
            "geo_dst",
            RecordBatchIterator::new([Ok(geo.clone())], geo.schema()),
        )
        .unwrap();
    assert_eq!(loaded.total_rows, 5);
    let same = sql
        .query::<serde_json::Value>(
            "SELECT count(*) AS n FROM geo_src s JOIN geo_dst d USING (id) \
             WHERE ST_Equals(coalesce(s.the_geom, s.z), coalesce(d.the_geom, d.z)) \
             AND ST_AsEWKT(coalesce(s.the_geom, s.z)) = ST_AsEWKT(coalesce(d.the_geom, d.z)) \
             AND ST_SRID(coalesce(d.the_geom, d.z)) = 4326",
        )
        .unwrap();
    assert_eq!(same.rows[0]["n"], 4);
    // The same round trip seen as GeoJSON (format=geojson): every feature's geometry of
    // the loaded table equals the source's.
    let as_geojson = |table: &str| {
        sql.geojson(&format!(
            "SELECT id, the_geom FROM {table} WHERE the_geom IS NOT NULL ORDER BY id"
        ))
        .unwrap()
    };
    let (src, dst) = (as_geojson("geo_src"), as_geojson("geo_dst"));
    assert!(!src.features.is_empty());
    assert_eq!(src.features.len(), dst.features.len());
    for (a, b) in src.features.iter().zip(&dst.features) {
        assert!(a.geometry.is_some());
        assert_eq!(a.geometry, b.geometry);
    }
    // A computed geometry declares no SRID: it is read from the first value.
    let computed = sql
        .arrow_schema("SELECT ST_Transform(the_geom, 3857) AS g FROM geo_src WHERE id = 1")
        .unwrap();
    assert_eq!(computed.field(0).metadata().get(SRID_KEY).unwrap(), "3857");
    assert_eq!(
        computed
            .field(0)
            .metadata()
            .get("ARROW:extension:metadata")
            .unwrap(),
        r#"{"crs":"EPSG:3857","crs_type":"authority_code"}"#
    );
    // Mixed SRIDs in one column are an error, never a silent loss.
    assert_invalid(
        sql.query_arrow(
            "SELECT CASE WHEN g = 1 THEN ST_SetSRID(ST_MakePoint(0, 0), 4326) \
             ELSE ST_SetSRID(ST_MakePoint(0, 0), 3857) END AS g FROM generate_series(1, 2) g",
        )
        .unwrap()
        .collect_batches(),
        "SRID 3857",
    );

    // Errors.
    assert_invalid(
        sql.query_arrow_with("SELECT 1", &ArrowOptions::new().batch_rows(0)),
        "batch_rows",
    );
    assert_invalid(
        sql.query_arrow_with(
            "SELECT n FROM arrow_types",
            &ArrowOptions::new().numeric(NumericAs::Decimal128 {
                precision: 10,
                scale: 1,
            }),
        )
        .unwrap()
        .collect_batches(),
        "column `n`",
    );
    assert_invalid(
        sql.query_arrow("SELECT 'infinity'::date AS d")
            .unwrap()
            .collect_batches(),
        "has no Arrow value",
    );
    let not_a_query = sql.query_arrow("DELETE FROM arrow_types");
    assert!(matches!(not_a_query, Err(Error::Api(_))), "{not_a_query:?}");
    // A failure after the rows started is the last item.
    let midway = sql
        .query_arrow_with(
            "SELECT g, 1 / (5000 - g) AS x FROM generate_series(1, 10000) g",
            &ArrowOptions::new().batch_rows(1000),
        )
        .unwrap();
    let items: Vec<_> = midway.collect();
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    assert_invalid(items.into_iter().last().unwrap(), "division by zero");
    // A batch of another schema aborts the load; nothing is copied.
    run_sync(&sql, "TRUNCATE geo_dst");
    let other =
        RecordBatch::try_from_iter([("id", Arc::new(arrow_array::Int64Array::from(vec![1])) as _)])
            .unwrap();
    let mixed = RecordBatchIterator::new([Ok(geo.clone()), Ok(other)], geo.schema());
    assert!(copy.copy_from_arrow("geo_dst", mixed).is_err());
    let count = sql
        .query::<serde_json::Value>("SELECT count(*) AS n FROM geo_dst")
        .unwrap();
    assert_eq!(count.rows[0]["n"], 0);
    // No rows at all is CARTO's answer to an empty COPY FROM.
    let nothing: [Result<RecordBatch, arrow_schema::ArrowError>; 0] = [];
    assert_invalid(
        copy.copy_from_arrow("geo_dst", RecordBatchIterator::new(nothing, geo.schema())),
        "No rows copied",
    );
    // A json[] holds JSON arrays as values.
    let json_array = one(sql
        .query_arrow("SELECT ARRAY['[1, 2]'::json, '{}'::json] AS a")
        .unwrap()
        .collect_batches()
        .unwrap());
    let items = col(&json_array, "a").as_list::<i32>().value(0);
    assert_eq!(items.as_string::<i32>().value(0), "[1,2]");
    // An Arrow type without an encoding is refused before sending.
    let durations = RecordBatch::try_from_iter([(
        "d",
        Arc::new(arrow_array::DurationSecondArray::from(vec![1])) as _,
    )])
    .unwrap();
    assert_invalid(
        copy.copy_from_arrow(
            "geo_dst",
            RecordBatchIterator::new([Ok(durations.clone())], durations.schema()),
        ),
        "column `d` has the Arrow type Duration",
    );
    assert_invalid(
        copy.copy_from_arrow(
            "geo_dst; DROP TABLE geo_src",
            RecordBatchIterator::new([Ok(geo.clone())], geo.schema()),
        ),
        "table",
    );

    #[cfg(feature = "polars")]
    {
        let batches = sql
            .query_arrow_with(query, &ArrowOptions::new().batch_rows(2))
            .unwrap();
        let schema = batches.schema();
        let df = carto_sql::arrow::to_polars(&schema, batches).unwrap();
        assert_eq!(df.shape(), (3, 19));
        let id = df.column("id").unwrap().as_materialized_series();
        let ids = id.i32().unwrap();
        let ids: Vec<Option<i32>> = (0..ids.len()).map(|i| ids.get(i)).collect();
        assert_eq!(ids, [Some(1), Some(2), Some(3)]);
        let t = df.column("t").unwrap().as_materialized_series();
        let texts = t.str().unwrap();
        let texts: Vec<Option<&str>> = (0..texts.len()).map(|i| texts.get(i)).collect();
        assert_eq!(texts, [Some("héllo \"q\", x"), None, Some("line\nbreak")]);
        let g = df.column("the_geom").unwrap().as_materialized_series();
        assert_eq!(hex::encode(g.binary().unwrap().get(0).unwrap()), POINT_WKB);
        assert!(g.binary().unwrap().get(1).is_none());
        let ints = df.column("ints").unwrap().as_materialized_series();
        let first = ints.list().unwrap().get_as_series(0).unwrap();
        let first = first.i32().unwrap();
        let first: Vec<Option<i32>> = (0..first.len()).map(|i| first.get(i)).collect();
        assert_eq!(first, [Some(1), None, Some(3)]);
        assert_eq!(
            df.column("tstz").unwrap().dtype().to_string(),
            "datetime[μs, UTC]"
        );
        let empty = sql
            .query_arrow("SELECT * FROM arrow_types WHERE false")
            .unwrap();
        let schema = empty.schema();
        let df = carto_sql::arrow::to_polars(&schema, empty).unwrap();
        assert_eq!(df.shape(), (0, 19));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_arrow_against_the_emulator() {
    let emulator = Emulator::builder().user("alice").start().await.unwrap();
    if !postgis(emulator.has_postgis("alice"), WHAT) {
        return;
    }
    let creds = emulator.credentials("alice").unwrap();
    let transport = ReqwestTransport::new();
    let sql = AsyncSqlClient::from_credentials(transport.clone(), creds.clone());
    let copy = AsyncCopyClient::from_credentials(transport, creds);
    sql.query::<IgnoredAny>(TYPES_TABLE).await.unwrap();

    let query = "SELECT * FROM arrow_types ORDER BY id";
    let mut stream = sql.query_arrow(query).await.unwrap();
    let batch = stream.next().await.unwrap().unwrap();
    assert!(stream.next().await.is_none());
    assert_eq!(stream.summary().unwrap().total_rows, 3);
    check_types(&batch, false);
    let exact = copy
        .copy_to_arrow(query)
        .await
        .unwrap()
        .collect_batches()
        .await
        .unwrap();
    check_types(&one(exact), true);

    let series = "SELECT g AS n FROM generate_series(1, 2500) g ORDER BY g";
    for stream in [
        sql.query_arrow_with(series, &ArrowOptions::new().batch_rows(1000))
            .await
            .unwrap(),
        copy.copy_to_arrow_with(series, &ArrowOptions::new().batch_rows(1000))
            .await
            .unwrap(),
    ] {
        let batches = stream.collect_batches().await.unwrap();
        assert_eq!(
            batches
                .iter()
                .map(RecordBatch::num_rows)
                .collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        let last = batches[2].column(0).as_primitive::<Int32Type>();
        assert_eq!((last.value(0), last.value(499)), (2001, 2500));
    }
    let empty = sql
        .query_arrow("SELECT * FROM arrow_types WHERE false")
        .await
        .unwrap();
    assert_eq!(empty.schema().fields().len(), 19);
    assert!(empty.collect_batches().await.unwrap().is_empty());

    // Straight from an ArrowStream into a table, over COPY both ways.
    let stream = copy
        .copy_to_arrow_with(query, &ArrowOptions::new().batch_rows(2))
        .await
        .unwrap();
    let gzipped = CopyFromOptions::new().gzip(1);
    let loaded = copy
        .copy_from_arrow_with("arrow_types_copy", stream.schema(), stream, &gzipped)
        .await
        .unwrap();
    assert_eq!(loaded.total_rows, 3);
    let differ = sql
        .query::<serde_json::Value>(
            "SELECT src.id FROM arrow_types src FULL JOIN arrow_types_copy dst ON src.id = dst.id \
             WHERE ROW(src.*)::text IS DISTINCT FROM ROW(dst.*)::text",
        )
        .await
        .unwrap();
    assert!(differ.rows.is_empty(), "{:?}", differ.rows);
    // A failing source aborts the load.
    let schema = batch.schema();
    let failing = futures_util::stream::iter([
        Ok(batch.clone()),
        Err(std::io::Error::other("the source broke")),
    ]);
    assert!(
        copy.copy_from_arrow("arrow_types_copy", schema, failing)
            .await
            .is_err()
    );
    let count = sql
        .query::<serde_json::Value>("SELECT count(*) AS n FROM arrow_types_copy")
        .await
        .unwrap();
    assert_eq!(count.rows[0]["n"], 3);
}
