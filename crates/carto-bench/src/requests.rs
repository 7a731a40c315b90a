//! Comparison 2, per-request overhead: sequential `SELECT 1` through the SDK's clients
//! against bare ureq and reqwest clients sending the same request.

use carto_test_support::emulator::served::Served;

use crate::BoxResult;
use crate::cli::Args;
use crate::client::{Bare, One, OneDoc, credentials};
use crate::measure::{median, threads, timed};
use crate::report::Report;

pub fn request_comparison(
    args: &Args,
    served: &Served,
    bare: &Bare,
    report: &mut Report,
) -> BoxResult<()> {
    let n = args.requests;
    println!("\n2. {n} sequential SELECT 1 per run");
    let creds = credentials(&served.url, &served.token)?;
    let blocking = carto::blocking::Client::new(creds.clone())?;
    let sql = blocking.sql();
    let sdk = || -> BoxResult<i32> {
        let r = sql.query::<One>("SELECT 1")?;
        Ok(r.rows.first().map_or(0, |r| r.one))
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let async_client = carto::Client::new(creds)?;
    let async_sql = async_client.sql();
    let reqwest = reqwest::Client::new();
    let bare_reqwest = || -> BoxResult<i32> {
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
    };
    let async_sdk = || -> BoxResult<i32> {
        rt.block_on(async {
            let r = async_sql.query::<One>("SELECT 1").await?;
            Ok(r.rows.first().map_or(0, |r| r.one))
        })
    };
    // Warm up every client's connection.
    sdk()?;
    bare.select1()?;
    async_sdk()?;
    bare_reqwest()?;
    let threads_before = threads();
    let mut m: [Vec<(f64, f64)>; 4] = Default::default();
    for run in 0..args.runs.max(1) {
        // Alternate the order, so neither side always runs on a warmer machine.
        if run % 2 == 0 {
            m[0].push(timed(n, sdk)?);
            m[1].push(timed(n, || bare.select1())?);
            m[2].push(timed(n, async_sdk)?);
            m[3].push(timed(n, bare_reqwest)?);
        } else {
            m[1].push(timed(n, || bare.select1())?);
            m[0].push(timed(n, sdk)?);
            m[3].push(timed(n, bare_reqwest)?);
            m[2].push(timed(n, async_sdk)?);
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
        "blocking::Client (ureq)",
        "bare ureq agent",
        "Client (reqwest)",
        "bare reqwest client",
    ];
    let figures: Vec<(f64, f64)> = m.iter().map(|v| med(v)).collect();
    for (name, (wall, cpu)) in names.iter().zip(&figures) {
        println!(
            "  {name}: {wall:.3} s wall, {cpu:.3} s CPU ({:.0} µs/request)",
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
            &format!("{n} x SELECT 1, wall, {label} vs bare"),
            format!("{sw:.3} s"),
            format!("{bw:.3} s"),
            sw / bw,
            "<= 1.05",
        );
        report.add(
            &format!("{n} x SELECT 1, client CPU, {label} vs bare"),
            format!("{sc:.3} s"),
            format!("{bc:.3} s"),
            sc / bc,
            "-",
        );
    }
    Ok(())
}
