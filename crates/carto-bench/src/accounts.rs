//! The emulator as a test fixture (issue 28), comparison 5: a fresh account on a running
//! emulator; a cold start with and without the cluster cache against a bare `initdb` +
//! `pg_ctl start` + `CREATE EXTENSION postgis`; 50 tests each with a fresh account, in
//! parallel.

use std::time::{Duration, Instant};

use carto_emulator::Emulator;

use crate::BoxResult;
use crate::cli::Args;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Runs a PostgreSQL program (as the `postgres` system user when we are root, as PostgreSQL
/// refuses root), failing with its output.
fn pg(program: &str, args: &[&str]) -> BoxResult<()> {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).env("LC_ALL", "C");
    if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name("postgres")?.ok_or("no postgres user")?;
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{program}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

/// A bare cluster, with PostgreSQL's defaults: `initdb`, `pg_ctl start -w`, `CREATE EXTENSION
/// postgis` (through its socket, `trust`), timed; then stopped and removed (not timed).
fn bare(rt: &tokio::runtime::Runtime) -> BoxResult<Duration> {
    let dir = tempfile::Builder::new()
        .prefix("carto-bench-bare-")
        .tempdir()?;
    if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name("postgres")?.ok_or("no postgres user")?;
        nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid))?;
    }
    let root = dir
        .path()
        .to_str()
        .ok_or("temporary path not UTF-8")?
        .to_owned();
    let data = format!("{root}/data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let t = Instant::now();
    pg("initdb", &["-D", &data, "-U", "postgres", "--auth=trust"])?;
    let options = format!("-p {port} -k {root} -c listen_addresses=''");
    pg(
        "pg_ctl",
        &[
            "start",
            "-w",
            "-D",
            &data,
            "-l",
            &format!("{root}/log"),
            "-o",
            &options,
        ],
    )?;
    let url = format!(
        "postgres://postgres@{}:{port}/postgres",
        root.replace('/', "%2F")
    );
    let created = rt.block_on(async {
        let server = carto_emulator::PgServer::from_url(&url)?;
        let c = server.connect_superuser("postgres").await?;
        c.batch_execute("CREATE EXTENSION postgis SCHEMA public")
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    });
    let took = t.elapsed();
    pg("pg_ctl", &["stop", "-m", "immediate", "-D", &data])?;
    created?;
    Ok(took)
}

/// An emulator with one user, started and ready.
fn emulator(
    rt: &tokio::runtime::Runtime,
    cache: Option<std::path::PathBuf>,
) -> BoxResult<(Duration, bool)> {
    let t = Instant::now();
    let emu = rt.block_on(
        Emulator::builder()
            .user("alice")
            .cluster_cache(cache)
            .start(),
    )?;
    let took = t.elapsed();
    let cached = emu.pg().is_from_cache();
    drop(emu);
    Ok((took, cached))
}

pub fn accounts_comparison(args: &Args) -> BoxResult<()> {
    let runs = args.runs.max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let cache = std::env::temp_dir().join(format!("carto-bench-cache-{}", std::process::id()));
    // Filled once; the cached runs copy it.
    emulator(&rt, Some(cache.clone()))?;
    let (mut b, mut with, mut without) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        b.push(bare(&rt)?);
        let (t, cached) = emulator(&rt, Some(cache.clone()))?;
        assert!(cached, "the cache was filled");
        with.push(t);
        without.push(emulator(&rt, None)?.0);
    }
    let _ = std::fs::remove_dir_all(&cache);
    let (b, with, without) = (median(b), median(with), median(without));
    println!("\n5. The emulator as a test fixture ({runs} runs each, medians)");
    println!(
        "  bare initdb + pg_ctl start + CREATE EXTENSION postgis: {}",
        ms(b)
    );
    println!(
        "  cold start, emulator with one user, with the cache:    {} ({:.2}x bare)",
        ms(with),
        with.as_secs_f64() / b.as_secs_f64()
    );
    println!(
        "  cold start, emulator with one user, without the cache: {} ({:.2}x bare)",
        ms(without),
        without.as_secs_f64() / b.as_secs_f64()
    );

    let emu = rt.block_on(Emulator::builder().start())?;
    let mut fresh = Vec::new();
    // As tests ask for them: one at a time, with a test's worth of work (200 ms, not
    // counted) in between, during which the emulator makes its spare databases.
    for i in 0..runs.max(20) {
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        rt.block_on(emu.create_user(&format!("bench-{i}")))?;
        fresh.push(t.elapsed());
    }
    for i in 0..runs.max(20) {
        rt.block_on(emu.remove_user(&format!("bench-{i}")))?;
    }
    println!(
        "  a fresh account on a running emulator:                 {}",
        ms(median(fresh))
    );

    // 50 tests in parallel: each makes an account, creates a table, writes and reads it
    // through the SQL API, and drops the account.
    let t = Instant::now();
    let emu = std::sync::Arc::new(emu);
    rt.block_on(async {
        let client = reqwest::Client::new();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let emu = emu.clone();
                let client = client.clone();
                tokio::spawn(async move {
                    let name = format!("par-{i}");
                    let user = emu.create_user(&name).await?;
                    let url = format!("{}/api/v2/sql", user.base_url().as_str());
                    let key = user.master_key().expose_secret().to_owned();
                    for q in [
                        "CREATE TABLE t (n int)",
                        "INSERT INTO t VALUES (1)",
                        "SELECT n FROM t",
                    ] {
                        let r = client
                            .post(&url)
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(format!("q={}&api_key={key}", q.replace(' ', "+")))
                            .send()
                            .await?;
                        if !r.status().is_success() {
                            return Err(format!("{q}: {}", r.status()).into());
                        }
                    }
                    emu.remove_user(&name).await?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                })
            })
            .collect();
        for task in tasks {
            task.await?.map_err(|e| e.to_string())?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    println!(
        "  50 tests, a fresh account each, in parallel:           {}",
        ms(t.elapsed())
    );
    Ok(())
}
