//! Clients of the emulator child (`carto_test_support::emulator::served`): the SDK's
//! credentials and timeouts, and bare ureq requests sending what the SDK sends.

use std::time::Duration;

use base64::Engine as _;
use carto::{BaseUrl, ClientOptions, Credentials, TransportConfig};
use carto_test_support::emulator::served::Served;
use serde::Deserialize;

use crate::BoxResult;

#[derive(Deserialize)]
pub struct One {
    #[serde(rename = "?column?")]
    pub one: i32,
}

#[derive(Deserialize)]
pub struct OneDoc {
    pub rows: Vec<One>,
}

pub fn credentials(url: &str, token: &str) -> BoxResult<Credentials> {
    Ok(Credentials::new(
        BaseUrl::parse_allow_http(url)?,
        token.to_owned(),
    ))
}

pub fn long_options() -> ClientOptions {
    ClientOptions::new().transport(
        TransportConfig::default()
            .with_request_timeout(Duration::from_secs(3600))
            .with_read_timeout(Duration::from_secs(600)),
    )
}

/// Bare HTTP clients sending what the SDK sends for `SELECT 1`: a form POST with the key in a
/// Basic header.
pub struct Bare {
    pub url: String,
    pub auth: String,
    pub ureq: ureq::Agent,
}

impl Bare {
    pub fn new(served: &Served) -> Self {
        Self::from_parts(&served.url, &served.token)
    }

    pub fn from_parts(url: &str, token: &str) -> Self {
        let base = BaseUrl::parse_allow_http(url).expect("emulator URL");
        let user = base.username().to_owned();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
        );
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Self {
            url: format!("{}/api/v2/sql", url.trim_end_matches('/')),
            auth,
            ureq: ureq::Agent::new_with_config(config),
        }
    }

    /// Runs `q` and returns the body (an error for a non-2xx status).
    pub fn sql(&self, q: &str) -> BoxResult<Vec<u8>> {
        let mut response = self
            .ureq
            .post(&self.url)
            .header("Authorization", &self.auth)
            .send_form([("q", q)])?;
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()?;
        if !response.status().is_success() {
            return Err(format!("{q}: {}", String::from_utf8_lossy(&body)).into());
        }
        Ok(body)
    }

    /// Runs `q` and drops its body as it arrives: the bytes received.
    pub fn sql_to_sink(&self, q: &str) -> BoxResult<u64> {
        let mut response = self
            .ureq
            .post(&self.url)
            .header("Authorization", &self.auth)
            .send_form([("q", q)])?;
        if !response.status().is_success() {
            return Err(format!("{q}: status {}", response.status()).into());
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        Ok(std::io::copy(&mut reader, &mut std::io::sink())?)
    }

    pub fn select1(&self) -> BoxResult<i32> {
        let doc: OneDoc = serde_json::from_slice(&self.sql("SELECT 1")?)?;
        Ok(doc.rows.first().map_or(0, |r| r.one))
    }
}
