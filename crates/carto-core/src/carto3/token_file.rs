//! carto-auth's token cache file, `~/.carto-auth/token_m2m.json` (M2M) or
//! `token_oauth.json` (browser login):
//! `{"api_base_url": "...", "access_token": "...", "expiration": <seconds>}`.
//!
//! carto-auth writes `expiration` as `(datetime.utcnow() + expires_in).timestamp()`:
//! Python reads that naive UTC time as local time, so the number is the expiry's epoch
//! seconds minus the writing machine's UTC offset (east positive). carto-auth compares
//! it with the same shifted clock, so it is consistent on one machine; this module
//! applies the same shift (the local offset, or one given) to read and write it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::secret::AccessToken;
use crate::credentials::save_private;
use crate::error::Error;

/// Which of carto-auth's two cache files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFileMode {
    /// `token_m2m.json`: tokens of client credentials.
    M2m,
    /// `token_oauth.json`: tokens of a browser login.
    OAuth,
}

/// One cached token in carto-auth's format. `Debug` never shows the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFile {
    /// The API base URL the token is for.
    pub api_base_url: String,
    /// The token.
    pub access_token: AccessToken,
    /// carto-auth's shifted expiry (see the module documentation).
    pub expiration: i64,
}

/// The local UTC offset in seconds (east positive) at `at`.
fn local_offset(at: SystemTime) -> i64 {
    let at: chrono::DateTime<chrono::Local> = at.into();
    i64::from(chrono::Offset::fix(at.offset()).local_minus_utc())
}

fn epoch_secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn from_epoch_secs(secs: i64) -> SystemTime {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

impl TokenFile {
    /// A cache entry for `token`, valid until `expires_at`, with carto-auth's shift for
    /// this machine's UTC offset.
    pub fn new(
        api_base_url: impl Into<String>,
        token: AccessToken,
        expires_at: SystemTime,
    ) -> Self {
        Self::with_utc_offset(api_base_url, token, expires_at, local_offset(expires_at))
    }

    /// [`TokenFile::new`] with an explicit UTC offset in seconds (east positive).
    pub fn with_utc_offset(
        api_base_url: impl Into<String>,
        token: AccessToken,
        expires_at: SystemTime,
        utc_offset: i64,
    ) -> Self {
        Self {
            api_base_url: api_base_url.into(),
            access_token: token,
            expiration: epoch_secs(expires_at).saturating_sub(utc_offset),
        }
    }

    /// When the token expires, undoing carto-auth's shift with this machine's UTC
    /// offset.
    pub fn expires_at(&self) -> SystemTime {
        let shifted = from_epoch_secs(self.expiration);
        self.expires_at_with_utc_offset(local_offset(shifted))
    }

    /// When the token expires, for a file written at UTC offset `utc_offset` seconds.
    pub fn expires_at_with_utc_offset(&self, utc_offset: i64) -> SystemTime {
        from_epoch_secs(self.expiration.saturating_add(utc_offset))
    }

    /// Whether carto-auth would use this entry at `now`: a non-empty base URL and
    /// token, not expired.
    pub fn is_usable(&self, now: SystemTime) -> bool {
        !self.api_base_url.trim().is_empty()
            && !self.access_token.is_empty()
            && now <= self.expires_at()
    }

    /// Parses the file's JSON. A document without all three members is `Ok(None)`, as
    /// carto-auth ignores it.
    pub fn from_json(json: &str) -> Result<Option<Self>, Error> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Error::credentials_from("malformed token cache file", e))?;
        let complete = ["api_base_url", "access_token", "expiration"]
            .iter()
            .all(|k| value.get(k).is_some_and(|v| !v.is_null()));
        if !complete {
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|_| Error::credentials("the token cache file's members have unexpected types"))
    }

    /// The file's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("token file serializes")
    }

    /// Reads a cache file; a missing file or an incomplete entry is `Ok(None)`.
    pub fn load(path: impl AsRef<Path>) -> Result<Option<Self>, Error> {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_json(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::credentials_from(
                format!("cannot read token cache file {}", path.display()),
                e,
            )),
        }
    }

    /// Writes the cache file, readable by its owner only on Unix; parent directories
    /// are created.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        save_private(path.as_ref(), "token cache file", self.to_json().as_bytes())
    }

    /// carto-auth's default path: `~/.carto-auth/token_m2m.json` or
    /// `~/.carto-auth/token_oauth.json`.
    pub fn default_path(mode: TokenFileMode) -> Result<PathBuf, Error> {
        let name = match mode {
            TokenFileMode::M2m => "token_m2m.json",
            TokenFileMode::OAuth => "token_oauth.json",
        };
        dirs::home_dir()
            .map(|h| h.join(".carto-auth").join(name))
            .ok_or(Error::credentials("no home directory on this system"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// carto-auth's `tests/fixtures/token_ok.json`, as upstream.
    const TOKEN_OK: &str = r#"{
  "api_base_url": "https://gcp-us-east1.api.carto.com",
  "access_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpX",
  "expiration": 1667471700
}
"#;

    #[test]
    fn reads_carto_auths_fixture() {
        let f = TokenFile::from_json(TOKEN_OK).unwrap().unwrap();
        assert_eq!(f.api_base_url, "https://gcp-us-east1.api.carto.com");
        assert_eq!(
            f.access_token.expose_secret(),
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpX"
        );
        assert_eq!(f.expiration, 1_667_471_700);
        // Written in UTC+2 (Madrid in summer): the true expiry is two hours later.
        assert_eq!(
            f.expires_at_with_utc_offset(7200),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_667_471_700 + 7200)
        );
        assert!(!f.is_usable(SystemTime::now()));
        assert!(!format!("{f:?}").contains("eyJhbGci"));
    }

    #[test]
    fn incomplete_entries_are_ignored_and_bad_ones_refused() {
        assert_eq!(
            TokenFile::from_json(r#"{"access_token":"a","expiration":1}"#).unwrap(),
            None
        );
        assert_eq!(
            TokenFile::from_json(r#"{"api_base_url":"u","access_token":"a","expiration":null}"#)
                .unwrap(),
            None
        );
        let e = TokenFile::from_json(
            r#"{"api_base_url":"u","access_token":"canary-t","expiration":"x"}"#,
        )
        .unwrap_err();
        assert!(!format!("{e} {e:?}").contains("canary-t"));
        assert!(TokenFile::from_json("nope").is_err());
    }

    #[test]
    fn round_trip_with_the_shift() {
        let expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let f = TokenFile::with_utc_offset(
            "https://x.api.carto.com",
            AccessToken::new("t"),
            expiry,
            -18_000,
        );
        assert_eq!(f.expiration, 1_800_000_000 + 18_000);
        assert_eq!(f.expires_at_with_utc_offset(-18_000), expiry);
        // With this machine's offset both ways.
        let f = TokenFile::new("https://x.api.carto.com", AccessToken::new("t"), expiry);
        assert_eq!(f.expires_at(), expiry);
        assert!(f.is_usable(expiry - Duration::from_secs(1)));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".carto-auth/token_m2m.json");
        assert_eq!(TokenFile::load(&path).unwrap(), None);
        f.save(&path).unwrap();
        assert_eq!(TokenFile::load(&path).unwrap(), Some(f));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            TokenFile::default_path(TokenFileMode::M2m)
                .unwrap()
                .ends_with(".carto-auth/token_m2m.json")
        );
    }
}
