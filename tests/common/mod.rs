//! The end-to-end scenario, written once for both clients: `scenario!` expands to sync
//! code (no `.await`) or async code (`.await` after each call).
#![allow(dead_code, unused_macros)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use carto_emulator::{ApiKeyType, BlockingEmulator, Emulator};

pub const USER: &str = "alice";

/// Starts the emulator every end-to-end test file uses: user `alice`, regular keys
/// limited to 500 ms per statement.
pub fn start_emulator() -> BlockingEmulator {
    Emulator::builder()
        .user(USER)
        .statement_timeout(ApiKeyType::Regular, Some(Duration::from_millis(500)))
        .start_blocking()
        .expect("the emulator starts (PostgreSQL binaries on the PATH)")
}

/// Collects an iterator (sync form of `collect_async`).
pub fn collect_sync<I: IntoIterator>(items: I) -> Vec<I::Item> {
    items.into_iter().collect()
}

/// Collects a stream.
pub async fn collect_async<S: futures_util::Stream>(stream: S) -> Vec<S::Item> {
    futures_util::StreamExt::collect(stream).await
}

/// Everything traced on the test's thread.
pub use carto_test_support::trace::Captured;

#[derive(Debug, serde::Deserialize)]
pub struct Tornado {
    pub cartodb_id: i64,
    pub yr: i32,
    pub name: String,
}

/// The whole story for one client and one auth placement. `$master` is a client with
/// the master key; `$suffix` makes table and key names unique; `[$($aw)*]` is
/// `[.await]` for the async client and `[]` for the blocking one; `$collect` collects
/// an iterator or a stream. Returns every token seen, for the trace canary.
macro_rules! scenario {
    ($master:expr, $has_postgis:expr, $suffix:expr, [$($aw:tt)*], $collect:path) => {{
        use carto::models::{ApiKeyType, NewApiKey, Service, TablePermission};
        use carto::{Format, ListOptions, QueryOptions};
        use serde_json::Value;

        let master = $master;
        let suffix: &str = $suffix;
        let mut tokens: Vec<String> = vec![master.credentials().token().expose_secret().to_owned()];
        let table = format!("tornadoes_{suffix}");

        // The master key creates and fills a table.
        master.sql().query::<Value>(&format!(
            "CREATE TABLE {table} (cartodb_id serial PRIMARY KEY, yr int NOT NULL, name text)"
        )) $($aw)* .unwrap();
        let inserted = master.sql().query::<Value>(&format!(
            "INSERT INTO {table} (yr, name) SELECT 2000 + i % 25, 'storm ' || i FROM generate_series(1, 500) i"
        )) $($aw)* .unwrap();
        assert_eq!(inserted.total_rows, 500);
        assert!(inserted.rows.is_empty());

        // A regular key that may only select from it; its name needs escaping.
        let name = format!("reader {suffix} ñ/é?&");
        let key = master.api_keys().create(
            NewApiKey::builder(name.clone())
                .table("public", table.clone(), [TablePermission::Select])
                .build()
                .unwrap(),
        ) $($aw)* .unwrap();
        assert_eq!(key.name, name);
        assert_eq!(key.key_type, ApiKeyType::Regular);
        assert!(key.grants.allows_table("public", &table, TablePermission::Select));
        assert!(!key.grants.allows_table("public", &table, TablePermission::Insert));
        tokens.push(key.token.expose_secret().to_owned());
        let got = master.api_keys().get(&name) $($aw)* .unwrap();
        assert_eq!(got.token, key.token);

        // The regular key reads, typed, GET and POST, streamed, exported.
        let reader = master.with_token(key.token.clone());
        let sql = format!("SELECT cartodb_id, yr, name FROM {table} WHERE yr = 2024 ORDER BY cartodb_id");
        let read = reader.sql().query::<$crate::common::Tornado>(&sql) $($aw)* .unwrap();
        assert_eq!(read.rows.len(), 20);
        assert_eq!(read.total_rows, 20);
        assert!(read.rows.iter().all(|t| t.yr == 2024 && t.name.starts_with("storm ")));
        assert!(read.rows.windows(2).all(|w| w[0].cartodb_id < w[1].cartodb_id));
        let yr = read.fields.get("yr").unwrap();
        assert_eq!((yr.field_type.as_str(), yr.pgtype.as_deref()), ("number", Some("int4")));
        assert!(read.time.is_some());
        let via_get = reader.sql().query_with::<$crate::common::Tornado>(
            &sql, &QueryOptions::new().use_get(true)
        ) $($aw)* .unwrap();
        assert_eq!(via_get.rows.len(), 20);
        let paged = reader.sql().query_with::<Value>(
            &format!("SELECT cartodb_id FROM {table} ORDER BY cartodb_id"),
            &QueryOptions::new().page(1, 10).skipfields(["name"]),
        ) $($aw)* .unwrap();
        assert_eq!(paged.rows.len(), 10);
        assert_eq!(paged.rows[0]["cartodb_id"], 11);
        let streamed = $collect(
            reader.sql().query_rows::<$crate::common::Tornado>(
                &format!("SELECT cartodb_id, yr, name FROM {table} ORDER BY cartodb_id")) $($aw)* .unwrap()
        ) $($aw)*;
        assert_eq!(streamed.len(), 500);
        assert_eq!(streamed[499].as_ref().unwrap().cartodb_id, 500);
        let big = $collect(
            master.sql().query_rows::<Value>(
                "SELECT i, repeat('x', 100) AS pad FROM generate_series(1, 20000) i") $($aw)* .unwrap()
        ) $($aw)*;
        assert_eq!(big.len(), 20000);
        assert!(big.iter().all(Result::is_ok));
        let csv = reader.sql().export_with(
            &format!("SELECT cartodb_id, yr FROM {table} WHERE cartodb_id <= 2 ORDER BY 1"),
            Format::Csv,
            &QueryOptions::new().filename("two"),
        ) $($aw)* .unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with("cartodb_id,yr"), "{csv}");
        assert_eq!(csv.lines().count(), 3, "{csv}");

        // ... but cannot write: 403 from PostgreSQL's own permission check.
        let err = reader.sql().query::<Value>(&format!(
            "INSERT INTO {table} (yr, name) VALUES (2030, 'nope')"
        )) $($aw)* .unwrap_err();
        assert!(err.is_forbidden(), "{err}");
        assert!(err.to_string().contains("permission denied"), "{err}");
        // Nor manage keys: 401 on the Auth API.
        let err = reader.api_keys().create(NewApiKey::builder(format!("x {suffix}")).build().unwrap()) $($aw)* .unwrap_err();
        assert!(err.is_unauthorized(), "{err}");
        // A regular key sees only itself in a listing.
        let own = $collect(reader.api_keys().list()) $($aw)*;
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].as_ref().unwrap().name, name);

        // Typed errors.
        let err = master.sql().query::<Value>("SELECT star FROM this and that") $($aw)* .unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err}");
        let err = master.api_keys().get(&format!("missing {suffix}")) $($aw)* .unwrap_err();
        assert!(err.is_not_found(), "{err}");
        let err = master.api_keys().create(NewApiKey::builder(name.clone()).build().unwrap()) $($aw)* .unwrap_err();
        assert!(err.is_validation(), "{err}");
        assert!(err.to_string().contains("Name has already been taken"), "{err}");
        let err = master.api_keys().delete("Master") $($aw)* .unwrap_err();
        assert!(err.is_forbidden(), "{err}");
        let err = reader.sql().query::<Value>("SELECT pg_sleep(3)") $($aw)* .unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(429), "{err}");
        assert!(err.is_timeout() && !err.is_rate_limited(), "{err}");

        // Pagination over several pages.
        for i in 0..3 {
            let extra = master.api_keys().create(
                NewApiKey::builder(format!("extra {suffix} {i}"))
                    .services([Service::Geocoding])
                    .build()
                    .unwrap(),
            ) $($aw)* .unwrap();
            tokens.push(extra.token.expose_secret().to_owned());
        }
        let first = master.api_keys().list_page_with(1, &ListOptions::regular().per_page(2)) $($aw)* .unwrap();
        assert!(first.total >= 4 && first.result.len() == 2, "{first:?}");
        let all: Vec<String> = $collect(master.api_keys().list_with(&ListOptions::regular().per_page(2))) $($aw)*
            .into_iter()
            .map(|k| k.unwrap().name)
            .collect();
        assert_eq!(all.len() as u64, first.total);
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "no key twice: {all:?}");
        assert!(all.contains(&name));
        for i in 0..3 {
            assert!(all.contains(&format!("extra {suffix} {i}")));
        }
        let masters = $collect(master.api_keys().list_with(&ListOptions::new().types([ApiKeyType::Master, ApiKeyType::Default]))) $($aw)*;
        let names: Vec<String> = masters.into_iter().map(|k| k.unwrap().name).collect();
        assert_eq!(names, ["Master", "Default public"]);

        // Token validity, regeneration.
        assert!(master.api_keys().is_valid(key.token.clone()) $($aw)* .unwrap());
        assert!(!master.api_keys().is_valid("not-a-token") $($aw)* .unwrap());
        let regenerated = master.api_keys().regenerate(&name) $($aw)* .unwrap();
        assert_ne!(regenerated.token, key.token);
        tokens.push(regenerated.token.expose_secret().to_owned());
        let err = reader.sql().query::<Value>(&sql) $($aw)* .unwrap_err();
        assert!(err.is_unauthorized(), "the old token is refused: {err}");
        assert!(!master.api_keys().is_valid(key.token.clone()) $($aw)* .unwrap());
        let renewed = master.with_token(regenerated.token.clone());
        assert_eq!(renewed.sql().query::<Value>(&sql) $($aw)* .unwrap().rows.len(), 20);

        // Deletion.
        master.api_keys().delete(&name) $($aw)* .unwrap();
        let err = renewed.sql().query::<Value>(&sql) $($aw)* .unwrap_err();
        assert!(err.is_unauthorized(), "a deleted key is refused: {err}");
        let err = master.api_keys().get(&name) $($aw)* .unwrap_err();
        assert!(err.is_not_found(), "{err}");

        // The account.
        let me = master.me() $($aw)* .unwrap();
        assert_eq!(me.user_data.username, $crate::common::USER);
        let gcloud = master.gcloud_credentials() $($aw)* .unwrap();
        assert!(!gcloud.project.is_empty());

        // GeoJSON needs PostGIS.
        if $has_postgis {
            let fc = master.sql().geojson(
                "SELECT 7 AS cartodb_id, ST_SetSRID(ST_MakePoint(1.5, 2.25), 4326) AS the_geom") $($aw)* .unwrap();
            assert_eq!(fc.features.len(), 1);
            assert_eq!(
                fc.features[0].geometry,
                Some(carto::sql::Geometry::new_point([1.5, 2.25]))
            );
            assert_eq!(
                fc.features[0].property("cartodb_id").and_then(Value::as_i64),
                Some(7)
            );
        }
        tokens
    }};
}

/// Reads a request head and its `Content-Length` body (enough for the clients here).
pub fn read_request(s: &mut TcpStream) -> bool {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if head.contains("expect: 100-continue") {
                let _ = s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            while data.len() < end + 4 + length {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            }
            return true;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}
