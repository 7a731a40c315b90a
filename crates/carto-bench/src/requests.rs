//! Comparison 2, per-request overhead: sequential `SELECT 1` through the SDK's clients
//! against bare ureq and reqwest clients sending the same request, for the SQL API v2
//! (form POST, Basic key) and for CARTO 3's SQL API v3 (GET, Bearer token).

use carto::carto3::ApiCredentials;
use carto_test_support::emulator::served::Served;

use crate::BoxResult;
use crate::cli::Args;
use crate::client::{Bare, One, OneDoc, credentials};
use crate::measure::{median, threads, timed};
use crate::report::Report;

type Call<'a> = Box<dyn FnMut() -> BoxResult<i32> + 'a>;

/// Times `n` calls of each of the four clients (SDK blocking, bare ureq, SDK async, bare
/// reqwest) `runs` times, alternating their order, and reports the medians.
fn compare(
    args: &Args,
    what: &str,
    mut calls: [Call<'_>; 4],
    report: &mut Report,
) -> BoxResult<()> {
    let n = args.requests;
    // Warm up every client's connection.
    for call in calls.iter_mut() {
        call()?;
    }
    let threads_before = threads();
    let mut m: [Vec<(f64, f64)>; 4] = Default::default();
    for run in 0..args.runs.max(1) {
        // Alternate the order, so neither side always runs on a warmer machine.
        let order = if run % 2 == 0 {
            [0, 1, 2, 3]
        } else {
            [1, 0, 3, 2]
        };
        for i in order {
            m[i].push(timed(n, &mut calls[i])?);
        }
    }
    let threads_after = threads();
    let med = |v: &[(f64, f64)]| {
        (
            median(v.iter().map(|x| x.0).collect()),
            median(v.iter().map(|x| x.1).collect()),
        )
    };
    let names = [
        "blocking client (ureq)",
        "bare ureq agent",
        "async client (reqwest)",
        "bare reqwest client",
    ];
    let figures: Vec<(f64, f64)> = m.iter().map(|v| med(v)).collect();
    for (name, (wall, cpu)) in names.iter().zip(&figures) {
        println!(
            "  {what}, {name}: {wall:.3} s wall, {cpu:.3} s CPU ({:.0} µs/request)",
            wall / n as f64 * 1e6
        );
    }
    println!(
        "  threads of the bench process: {threads_before} before the runs, {threads_after} after"
    );
    for (sdk_i, bare_i, label) in [(0, 1, "blocking (ureq)"), (2, 3, "async (reqwest)")] {
        let (sw, sc) = figures[sdk_i];
        let (bw, bc) = figures[bare_i];
        report.add(
            &format!("{n} x {what}, wall, {label} vs bare"),
            format!("{sw:.3} s"),
            format!("{bw:.3} s"),
            sw / bw,
            "<= 1.05",
        );
        report.add(
            &format!("{n} x {what}, client CPU, {label} vs bare"),
            format!("{sc:.3} s"),
            format!("{bc:.3} s"),
            sc / bc,
            "-",
        );
    }
    Ok(())
}

fn current_thread() -> BoxResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub fn request_comparison(
    args: &Args,
    served: &Served,
    bare: &Bare,
    report: &mut Report,
) -> BoxResult<()> {
    println!("\n2. {} sequential SELECT 1 per run", args.requests);
    let creds = credentials(&served.url, &served.token)?;
    let blocking = carto::blocking::Client::new(creds.clone())?;
    let sql = blocking.sql();
    let rt = current_thread()?;
    let async_client = carto::Client::new(creds)?;
    let async_sql = async_client.sql();
    let reqwest = reqwest::Client::new();
    let calls: [Call<'_>; 4] = [
        Box::new(|| {
            Ok(sql
                .query::<One>("SELECT 1")?
                .rows
                .first()
                .map_or(0, |r| r.one))
        }),
        Box::new(|| bare.select1()),
        Box::new(|| {
            rt.block_on(async {
                let r = async_sql.query::<One>("SELECT 1").await?;
                Ok(r.rows.first().map_or(0, |r| r.one))
            })
        }),
        Box::new(|| {
            rt.block_on(async {
                let body = reqwest
                    .post(&bare.url)
                    .header("Authorization", &bare.auth)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body("q=SELECT+1")
                    .send()
                    .await?
                    .bytes()
                    .await?;
                let doc: OneDoc = serde_json::from_slice(&body)?;
                Ok(doc.rows.first().map_or(0, |r| r.one))
            })
        }),
    ];
    compare(args, "SELECT 1 (SQL API v2)", calls, report)?;
    carto3_comparison(args, served, report)
}

/// The same for CARTO 3: `carto::carto3` clients (M2M token fetched once, then cached)
/// against bare clients sending the same GET with the same Bearer token.
fn carto3_comparison(args: &Args, served: &Served, report: &mut Report) -> BoxResult<()> {
    let Some(doc) = &served.carto3 else {
        println!("  (no CARTO 3 account: the v3 comparison is skipped)");
        return Ok(());
    };
    let creds = ApiCredentials::from_carto_auth_json(&doc.to_string())?;
    let connection = doc["connection"]
        .as_str()
        .ok_or("no connection")?
        .to_owned();
    let blocking = carto::carto3::blocking::Client::new(creds.clone())?;
    let sql = blocking.sql(&connection);
    let rt = current_thread()?;
    let async_client = carto::carto3::Client::new(creds)?;
    let async_sql = async_client.sql(&connection);
    // The bare clients send the URL the SDK sends, with its token.
    let token = format!("Bearer {}", blocking.access_token()?.expose_secret());
    let base = doc["api_base_url"].as_str().ok_or("no api_base_url")?;
    let url = format!(
        "{}/v3/sql/{connection}/query?q=SELECT+1&v=3.4&client=carto-rs-{}",
        base.trim_end_matches('/'),
        env!("CARGO_PKG_VERSION")
    );
    let agent = ureq::Agent::new_with_defaults();
    let reqwest = reqwest::Client::new();
    let calls: [Call<'_>; 4] = [
        Box::new(|| {
            Ok(sql
                .query::<One>("SELECT 1")?
                .rows
                .first()
                .map_or(0, |r| r.one))
        }),
        Box::new(|| {
            let body = agent
                .get(&url)
                .header("Authorization", &token)
                .call()?
                .into_body()
                .read_to_vec()?;
            let doc: OneDoc = serde_json::from_slice(&body)?;
            Ok(doc.rows.first().map_or(0, |r| r.one))
        }),
        Box::new(|| {
            rt.block_on(async {
                let r = async_sql.query::<One>("SELECT 1").await?;
                Ok(r.rows.first().map_or(0, |r| r.one))
            })
        }),
        Box::new(|| {
            rt.block_on(async {
                let body = reqwest
                    .get(&url)
                    .header("Authorization", &token)
                    .send()
                    .await?
                    .bytes()
                    .await?;
                let doc: OneDoc = serde_json::from_slice(&body)?;
                Ok(doc.rows.first().map_or(0, |r| r.one))
            })
        }),
    ];
    compare(args, "SELECT 1 (SQL API v3)", calls, report)
}
