//! An emulator in a child process serving a bench, so the bench's figures are those of the
//! client alone. The bench binary runs [`serve`] when started with a child argument of its
//! choosing, and the parent starts that child with [`start`].

use std::io::{self, BufRead, Read, Write};
use std::process::{Child, Command, Stdio};

use serde::{Deserialize, Serialize};

/// What the emulator child tells its parent: its user's URL and master key, its
/// PostgreSQL superuser, its process id.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Served {
    /// The base URL of the user.
    pub url: String,
    /// The user's master key.
    pub token: String,
    /// The host of the emulator's PostgreSQL.
    pub pg_host: String,
    /// The port of the emulator's PostgreSQL.
    pub pg_port: u16,
    /// The superuser of the emulator's PostgreSQL.
    pub pg_user: String,
    /// The superuser's password.
    pub pg_password: String,
    /// The emulator's process id (its CPU is in `/proc/<pid>/stat`).
    pub pid: u32,
    /// The user as a CARTO 3 account: its `<user>.carto3.json` document (`api_base_url`,
    /// `auth_url`, `client_id`, `client_secret`, `connection`).
    #[serde(default)]
    pub carto3: Option<serde_json::Value>,
}

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// In the child: starts an emulator with one `user`, prints its [`Served`] line, serves
/// until standard input closes, then stops it.
pub fn serve(user: &str) -> BoxResult<()> {
    let emulator = carto_emulator::Emulator::builder()
        .user(user)
        .start_blocking()?;
    let account = emulator.user(user).ok_or("no user")?;
    let pg = emulator.pg();
    let served = Served {
        url: account.base_url().as_str().to_owned(),
        token: account.master_key().expose_secret().to_owned(),
        pg_host: pg.host().to_owned(),
        pg_port: pg.port(),
        pg_user: pg.superuser().to_owned(),
        pg_password: pg.superuser_password().to_owned(),
        pid: std::process::id(),
        carto3: Some(account.carto3().to_json()),
    };
    println!("{}", serde_json::to_string(&served)?);
    io::stdout().flush()?;
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    drop(emulator);
    Ok(())
}

/// In the parent: runs this same binary with `args` (which make it call [`serve`]) and
/// reads its [`Served`] line. Closing the child's standard input (dropping it, or the
/// parent exiting) stops the emulator.
pub fn start(args: &[&str]) -> BoxResult<(Child, Served)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    io::BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let served: Served =
        serde_json::from_str(line.trim()).map_err(|_| "the emulator did not start")?;
    Ok((child, served))
}
