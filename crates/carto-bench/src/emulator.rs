//! Comparison 3, the emulator against PostgreSQL: its SQL API under wrk against pgbench, an
//! axum server with a fixed answer as the HTTP ceiling, and its JSON output against psql.

use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use carto_test_support::emulator::served::Served;
use serde::{Deserialize, Serialize};

use crate::BoxResult;
use crate::cli::Args;
use crate::client::Bare;
use crate::measure::{have, median};
use crate::report::Report;

/// One measured wrk run.
#[derive(Clone, Copy)]
pub struct WrkRun {
    pub rps: f64,
    p50: f64,
    p99: f64,
    /// Requests answered in the measured run.
    pub requests: f64,
    /// CPU seconds (user + system) the server process `pid` took during the measured run.
    pub server_cpu: Option<f64>,
}

/// CPU seconds (user + system) of process `pid` so far (fields 14 and 15 of
/// `/proc/<pid>/stat`, clock ticks at 100 Hz); `None` when it cannot be read.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// wrk's requests/s, p50 and p99 (ms), after a 2 s warm-up run (so the first logins of a
/// role's sessions are not in the measured run); with `pid`, the CPU that process took
/// during the measured run.
pub fn wrk(
    args: &Args,
    url: &str,
    auth: Option<&str>,
    script: &Path,
    pid: Option<u32>,
) -> BoxResult<WrkRun> {
    let run = |seconds: u64| {
        let mut cmd = Command::new("wrk");
        cmd.args(["-t2", "-c16", &format!("-d{seconds}s"), "--latency", "-s"])
            .arg(script);
        if let Some(auth) = auth {
            cmd.args(["-H", &format!("Authorization: {auth}")]);
        }
        cmd.arg(url).stderr(Stdio::inherit()).output()
    };
    run(2)?;
    let cpu0 = pid.and_then(process_cpu_seconds);
    let out = run(args.seconds)?;
    let cpu1 = pid.and_then(process_cpu_seconds);
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or("no Requests/sec in wrk's output")?;
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let ms = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| {
                let v = v.trim();
                let (num, unit) =
                    v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
                let num: f64 = num.parse().ok()?;
                Some(match unit {
                    "us" => num / 1000.0,
                    "s" => num * 1000.0,
                    _ => num,
                })
            })
            .unwrap_or(f64::NAN)
    };
    let non2xx = text.contains("Non-2xx");
    if non2xx {
        println!("  wrk saw non-2xx answers:\n{text}");
    }
    Ok(WrkRun {
        rps,
        p50: ms("50%"),
        p99: ms("99%"),
        requests,
        server_cpu: cpu0.zip(cpu1).map(|(a, b)| b - a),
    })
}

/// The emulator's answer to one SQL API request, replayed by [`serve_fixed`]: status,
/// headers as sent (but `date`, which hyper writes, and the framing headers) and body.
#[derive(Serialize, Deserialize)]
pub struct FixedAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Sent as one chunk of a chunked body, as the emulator streams its answers.
    pub chunked: bool,
}

/// The emulator's answer to `SELECT 1` (the request wrk sends), as [`FixedAnswer`].
pub fn capture_answer(bare: &Bare) -> BoxResult<FixedAnswer> {
    let mut response = bare
        .ureq
        .post(&bare.url)
        .header("Authorization", &bare.auth)
        .send_form([("q", "SELECT 1")])?;
    let chunked = response
        .headers()
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "date" | "transfer-encoding" | "content-length" | "connection"
            )
        })
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string()?;
    Ok(FixedAnswer {
        status,
        headers,
        body,
        chunked,
    })
}

/// The `serve-fixed` child: a bare axum server on a tokio runtime like the emulator's (two
/// workers) that reads each request's body and answers `answer`; no PostgreSQL.
pub fn serve_fixed(answer: &str) -> BoxResult<()> {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderName, HeaderValue, StatusCode};
    let answer: FixedAnswer = serde_json::from_str(answer)?;
    let status = StatusCode::from_u16(answer.status)?;
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in &answer.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
    }
    let body = Bytes::from(answer.body);
    let chunked = answer.chunked;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    println!("http://{}/api/v2/sql", listener.local_addr()?);
    io::stdout().flush()?;
    let handler = move |request: axum::extract::Request| {
        let (headers, body) = (headers.clone(), body.clone());
        async move {
            // Read the request as the emulator does, then answer.
            let _ = axum::body::to_bytes(request.into_body(), 1 << 20).await;
            let body = if chunked {
                Body::from_stream(futures_util::stream::once(async move {
                    Ok::<_, std::io::Error>(body)
                }))
            } else {
                Body::from(body)
            };
            let mut response = axum::response::Response::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
    };
    let app = axum::Router::new().fallback(handler);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    drop(runtime);
    Ok(())
}

/// Starts the `serve-fixed` child: the child and its URL.
pub fn start_fixed(answer: &FixedAnswer) -> BoxResult<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve-fixed")
        .arg(serde_json::to_string(answer)?)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    io::BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    if !line.starts_with("http://") {
        return Err("the fixed-answer server did not start".into());
    }
    Ok((child, line.trim().to_owned()))
}

/// What wrk needs to send `SELECT 1` to the SQL API v3 of the served account: the URL, the
/// `Authorization` value (an OAuth token from its M2M credentials) and the script (a JSON
/// POST); `None` when the emulator child serves no CARTO 3 account.
fn carto3_select1(served: &Served, dir: &Path) -> BoxResult<Option<(String, String, PathBuf)>> {
    let Some(creds) = &served.carto3 else {
        return Ok(None);
    };
    let text = |k: &str| creds[k].as_str().ok_or(format!("no {k} in the account"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(&format!("{}/oauth/token", text("auth_url")?))
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", text("client_id")?),
            ("client_secret", text("client_secret")?),
            ("audience", "carto-cloud-native-api"),
        ])?;
    let doc: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string()?)?;
    let token = doc["access_token"]
        .as_str()
        .ok_or("no OAuth token from the emulator")?;
    let script = dir.join("post_v3.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{\"q\":\"SELECT 1\"}'\n",
    )?;
    let url = format!(
        "{}/v3/sql/{}/query",
        text("api_base_url")?,
        text("connection")?
    );
    Ok(Some((url, format!("Bearer {token}"), script)))
}

/// pgbench's tps (without connection time) and average latency (ms).
pub fn pgbench(args: &Args, served: &Served, script: &Path) -> BoxResult<(f64, f64)> {
    let out = Command::new("pgbench")
        .args(["-n", "-c16", "-j2", &format!("-T{}", args.seconds), "-f"])
        .arg(script)
        .args(["-h", &served.pg_host, "-p", &served.pg_port.to_string()])
        .args(["-U", &served.pg_user, "postgres"])
        .env("PGPASSWORD", &served.pg_password)
        .stderr(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps =") && !l.contains("including"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no tps in pgbench's output: {text}"))?;
    let latency = text
        .lines()
        .find_map(|l| l.strip_prefix("latency average ="))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    Ok((tps, latency))
}

pub fn emulator_comparison(
    args: &Args,
    served: &Served,
    bare: &Bare,
    report: &mut Report,
) -> BoxResult<()> {
    println!("\n3. the emulator against PostgreSQL");
    let dir = std::env::temp_dir().join(format!("carto-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let lua = dir.join("post.lua");
    std::fs::write(
        &lua,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\nwrk.body = \"q=SELECT%201\"\n",
    )?;
    let select1 = dir.join("select1.sql");
    std::fs::write(&select1, "SELECT 1;\n")?;
    let (has_wrk, has_pgbench) = (have("wrk"), have("pgbench"));
    if !has_wrk {
        println!("  wrk not installed: the load comparison is skipped");
    }
    if !has_pgbench {
        println!("  pgbench not installed: the load comparison is skipped");
    }
    if has_wrk && has_pgbench {
        let reset = dir.join("select1_discard.sql");
        std::fs::write(&reset, "SELECT 1;\nDISCARD ALL;\n")?;
        let (mut fixed, url) = start_fixed(&capture_answer(bare)?)?;
        let fixed_pid = fixed.id();
        let emulator_pid = (served.pid != 0).then_some(served.pid);
        let (mut master, mut public, mut pg) = (Vec::new(), Vec::new(), Vec::new());
        let (mut http, mut pg_reset) = (Vec::new(), Vec::new());
        // CARTO 3: the same `SELECT 1` POSTed as JSON to `/v3/sql/{connection}/query` with the
        // account's OAuth token (its master role), alternated with the v2 runs.
        let v3 = carto3_select1(served, &dir)?;
        let mut oauth = Vec::new();
        let mut runs = || -> BoxResult<()> {
            for _ in 0..args.runs.max(1) {
                if let Some((url, auth, script)) = &v3 {
                    oauth.push(wrk(args, url, Some(auth), script, emulator_pid)?);
                }
                master.push(wrk(args, &bare.url, Some(&bare.auth), &lua, emulator_pid)?);
                public.push(wrk(args, &bare.url, None, &lua, emulator_pid)?);
                pg.push(pgbench(args, served, &select1)?);
                http.push(wrk(args, &url, Some(&bare.auth), &lua, Some(fixed_pid))?);
                pg_reset.push(pgbench(args, served, &reset)?);
            }
            Ok(())
        };
        let result = runs();
        drop(fixed.stdin.take());
        let _ = fixed.wait();
        result?;
        let tps = median(pg.iter().map(|p| p.0).collect());
        let pg_lat = median(pg.iter().map(|p| p.1).collect());
        println!("  pgbench SELECT 1, 16 clients: {tps:.0} tps, {pg_lat:.2} ms average latency");
        // CPU microseconds per request of the serving process, when it could be read.
        let cpu_us = |v: &[WrkRun]| {
            let per: Vec<f64> = v
                .iter()
                .filter_map(|r| r.server_cpu.map(|c| c * 1e6 / r.requests))
                .filter(|x| x.is_finite())
                .collect();
            (!per.is_empty()).then(|| median(per))
        };
        for (label, v) in [("master key", &master), ("Default public key", &public)] {
            let rps = median(v.iter().map(|x| x.rps).collect());
            let p50 = median(v.iter().map(|x| x.p50).collect());
            let p99 = median(v.iter().map(|x| x.p99).collect());
            let cpu = cpu_us(v).map_or(String::new(), |us| {
                format!(", emulator CPU {us:.0} µs/request")
            });
            println!(
                "  wrk SELECT 1, 16 connections, {label}: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms{cpu}"
            );
            report.add(
                &format!("emulator SELECT 1 at 16 connections, {label} vs pgbench"),
                format!("{rps:.0} req/s (p99 {p99:.1} ms)"),
                format!("{tps:.0} tps"),
                rps / tps,
                ">= 0.50",
            );
        }
        if !oauth.is_empty() {
            let rps = median(oauth.iter().map(|x| x.rps).collect());
            let p99 = median(oauth.iter().map(|x| x.p99).collect());
            let v2 = median(master.iter().map(|x| x.rps).collect());
            let cpu = cpu_us(&oauth).map_or(String::new(), |us| {
                format!(", emulator CPU {us:.0} µs/request")
            });
            println!(
                "  wrk SELECT 1, 16 connections, CARTO 3 /v3/sql/{{connection}}/query, OAuth token: {rps:.0} req/s, p99 {p99:.2} ms{cpu}"
            );
            report.add(
                "emulator SELECT 1 at 16 connections, SQL API v3 (OAuth) vs v2 (master key)",
                format!("{rps:.0} req/s (p99 {p99:.1} ms)"),
                format!("{v2:.0} req/s"),
                rps / v2,
                ">= 1.00",
            );
        }
        // The two ceilings: the emulator's HTTP side alone, its PostgreSQL side alone.
        let http_rps = median(http.iter().map(|x| x.rps).collect());
        let http_p99 = median(http.iter().map(|x| x.p99).collect());
        let http_cpu = cpu_us(&http).map_or(String::new(), |us| {
            format!(", server CPU {us:.0} µs/request")
        });
        println!(
            "  ceiling, HTTP alone (bare axum, the emulator's SELECT 1 answer, no PostgreSQL): {http_rps:.0} req/s, p99 {http_p99:.2} ms{http_cpu}"
        );
        report.add(
            "reference: HTTP alone (bare axum, same answer) vs pgbench",
            format!("{http_rps:.0} req/s (p99 {http_p99:.1} ms)"),
            format!("{tps:.0} tps"),
            http_rps / tps,
            "-",
        );
        let reset_tps = median(pg_reset.iter().map(|p| p.0).collect());
        let reset_lat = median(pg_reset.iter().map(|p| p.1).collect());
        println!(
            "  ceiling, PostgreSQL with the reset (pgbench SELECT 1; DISCARD ALL;): {reset_tps:.0} tps, {reset_lat:.2} ms average latency"
        );
        report.add(
            "reference: pgbench SELECT 1 + DISCARD ALL vs pgbench SELECT 1",
            format!("{reset_tps:.0} tps"),
            format!("{tps:.0} tps"),
            reset_tps / tps,
            "-",
        );
        // On shared cores the two sides' CPU per request adds up: the rate with both is at
        // most about the harmonic combination of the two ceilings.
        let both = 1.0 / (1.0 / http_rps + 1.0 / reset_tps);
        println!(
            "  the two together (1 / (1/HTTP + 1/PostgreSQL with the reset)): {both:.0} req/s, {:.2} of pgbench SELECT 1",
            both / tps
        );
        report.add(
            "reference: harmonic of the two ceilings vs pgbench",
            format!("{both:.0} req/s"),
            format!("{tps:.0} tps"),
            both / tps,
            "-",
        );
    }
    if have("curl") && have("psql") {
        let db = String::from_utf8_lossy(&bare.sql("SELECT current_database() AS db")?).to_string();
        let db: serde_json::Value = serde_json::from_str(&db)?;
        let db = db["rows"][0]["db"]
            .as_str()
            .ok_or("no database name")?
            .to_owned();
        let (mut json, mut copy) = (Vec::new(), Vec::new());
        for _ in 0..args.runs.max(1) {
            let t0 = Instant::now();
            let status = Command::new("curl")
                .args([
                    "-sf",
                    "-o",
                    "/dev/null",
                    "-H",
                    &format!("Authorization: {}", bare.auth),
                ])
                .args([
                    "--data-urlencode",
                    "q=SELECT id, name, x, flag FROM bench_rows",
                ])
                .arg(&bare.url)
                .status()?;
            if !status.success() {
                return Err("curl of the JSON result failed".into());
            }
            json.push(t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            let status = Command::new("psql")
                .args(["-h", &served.pg_host, "-p", &served.pg_port.to_string()])
                .args(["-U", &served.pg_user, "-d", &db, "-q", "-c"])
                .arg("COPY (SELECT id, name, x, flag FROM bench_rows) TO STDOUT")
                .env("PGPASSWORD", &served.pg_password)
                .stdout(Stdio::null())
                .status()?;
            if !status.success() {
                return Err("psql COPY failed".into());
            }
            copy.push(t0.elapsed().as_secs_f64());
        }
        let (j, c) = (median(json), median(copy));
        report.add(
            &format!(
                "emulator JSON of {} rows (curl) vs psql COPY TO STDOUT",
                args.rows
            ),
            format!("{j:.3} s"),
            format!("{c:.3} s"),
            j / c,
            "<= 2.0",
        );
    } else {
        println!("  curl or psql not installed: the JSON output comparison is skipped");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
