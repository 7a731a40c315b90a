//! The CLI's error type, its exit status per kind of failure, and how it is printed.

use std::fmt::Write as _;
use std::io;
use std::process::ExitCode;

use carto::{Error, TransportErrorKind};
use carto_core::QueryLimit;

/// Exit statuses, one per kind of failure (documented in `carto --help` and the README).
pub mod code {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other failure.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's own status too).
    pub const USAGE: u8 = 2;
    /// Input rejected before anything was sent (a reserved key name, an empty query...).
    pub const INVALID_INPUT: u8 = 3;
    /// No usable credentials or configuration (missing profile, bad base URL...).
    pub const CONFIG: u8 = 4;
    /// A local file could not be read or written.
    pub const LOCAL_IO: u8 = 5;
    /// CARTO rejected the request (SQL error, validation error, other 4xx/5xx).
    pub const API: u8 = 10;
    /// 401: the API key is unknown, or a key is needed.
    pub const UNAUTHORIZED: u8 = 11;
    /// 403: the key may not do this.
    pub const FORBIDDEN: u8 = 12;
    /// 404: no such key, user or resource.
    pub const NOT_FOUND: u8 = 13;
    /// 429: CARTO's rate limiter refused the request.
    pub const RATE_LIMITED: u8 = 14;
    /// The statement hit its time limit, or the connection timed out.
    pub const TIMEOUT: u8 = 15;
    /// A batch job ended failed, cancelled or unknown.
    pub const JOB_FAILED: u8 = 16;
    /// `--timeout` passed before the batch job finished (it keeps running).
    pub const WAIT_TIMEOUT: u8 = 17;
    /// The request could not be sent or its answer received (connect, TLS, I/O).
    pub const TRANSPORT: u8 = 20;
    /// CARTO's answer could not be understood.
    pub const DECODE: u8 = 21;
}

/// The exit status table of `carto --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
   0  success
   1  any other failure
   2  bad command line (unknown option, unknown grant permission, no query)
   3  input rejected before sending (reserved key name, empty query, bad COPY SQL)
   4  no usable credentials or configuration (missing profile, bad base URL)
   5  a local file could not be read or written
  10  CARTO rejected the request (SQL error, validation error, other 4xx/5xx)
  11  401 unauthorized: unknown API key, or a key is needed
  12  403 forbidden: the key may not do this
  13  404 not found: no such key or user
  14  429 rate limited (see `retry after`)
  15  timed out: the statement hit its time limit (CARTO 3: a query over one minute),
      or the connection timed out
  16  the batch job ended failed, cancelled or unknown (a CARTO 3 job too)
  17  gave up waiting for the batch job (--timeout); it keeps running (a CARTO 3 job too)
  20  transport failure: connect, TLS or I/O
  21  CARTO's answer could not be decoded

Errors go to stderr as `carto: MESSAGE`, followed by CARTO's hint, detail, context and
cause when it gave them. A closed stdout (`carto sql ... | head`) ends quietly with 0.

Credentials, first match wins: --profile NAME (or CARTO_PROFILE), whose file is
$CARTO_CONFIG_DIR/profiles/NAME.json (default: the user configuration directory's
carto/profiles/NAME.json), with --base-url/--api-key given on the command line
overriding it; else --base-url or --username with --api-key (or CARTO_BASE_URL,
CARTO_USERNAME, CARTO_API_KEY); else cartoframes' default creds.json. Prefer
CARTO_API_KEY or a saved profile to --api-key: a command line is visible to other users
(ps) and kept in shell history. No command prints an API key token unless asked with
--show-token; listings show a masked form.";

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// An error of the SDK.
    Carto(Error),
    /// A local file or stream failed (`what` says which, without any secret).
    Io {
        /// What was being done: `cannot read q.sql`.
        what: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A bad combination of arguments clap cannot check.
    Usage(String),
    /// Missing or unusable configuration.
    Config(String),
    /// stdout was closed by its reader: stop quietly.
    BrokenPipe,
    /// Waiting for a job gave up (`--timeout`); the job keeps running.
    StillRunning {
        /// The SDK's [`Error::WaitTimeout`].
        error: Error,
        /// The command that shows the job (`carto batch status ID`).
        status: &'static str,
        /// The command that stops it.
        cancel: &'static str,
    },
    /// The emulator failed.
    #[cfg(feature = "emulator")]
    Emulator(carto_emulator::EmulatorError),
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        if is_broken_pipe(&e) {
            Self::BrokenPipe
        } else {
            Self::Carto(e)
        }
    }
}

impl From<carto::BaseUrlError> for CliError {
    fn from(e: carto::BaseUrlError) -> Self {
        Self::Carto(e.into())
    }
}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    /// A local I/O failure; a broken pipe becomes [`CliError::BrokenPipe`].
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::BrokenPipe {
            Self::BrokenPipe
        } else {
            Self::Io {
                what: what.into(),
                source,
            }
        }
    }

    /// A failure to write standard output.
    pub fn stdout(source: io::Error) -> Self {
        Self::io("cannot write to stdout", source)
    }

    /// The exit status.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Carto(e) | Self::StillRunning { error: e, .. } => carto_code(e),
            Self::Io { .. } => code::LOCAL_IO,
            Self::Usage(_) => code::USAGE,
            Self::Config(_) => code::CONFIG,
            Self::BrokenPipe => code::OK,
            #[cfg(feature = "emulator")]
            Self::Emulator(_) => code::FAILURE,
        }
    }

    /// The message printed on stderr (empty for a broken pipe), every occurrence of
    /// each of `secrets` replaced, as a last line of defence.
    pub fn render(&self, secrets: &[String]) -> String {
        let mut out = String::new();
        match self {
            Self::Carto(e) => render_carto(e, &mut out),
            Self::Io { what, source } => {
                let _ = writeln!(out, "carto: {what}: {source}");
            }
            Self::Usage(m) | Self::Config(m) => {
                let _ = writeln!(out, "carto: {m}");
            }
            Self::BrokenPipe => {}
            Self::StillRunning {
                error,
                status,
                cancel,
            } => {
                render_carto(error, &mut out);
                let _ = writeln!(
                    out,
                    "  the job keeps running: see `{status}`, stop it with `{cancel}`"
                );
            }
            #[cfg(feature = "emulator")]
            Self::Emulator(e) => {
                let _ = writeln!(out, "carto: emulator: {e}");
            }
        }
        for s in secrets.iter().filter(|s| s.len() >= 4) {
            out = out.replace(s.as_str(), "<redacted>");
        }
        out
    }

    /// Prints the error on stderr and returns the exit status.
    pub fn report(&self, secrets: &[String]) -> ExitCode {
        eprint!("{}", self.render(secrets));
        ExitCode::from(self.exit_code())
    }
}

fn carto_code(e: &Error) -> u8 {
    match e {
        Error::Api(api) => {
            if e.is_timeout() {
                code::TIMEOUT
            } else if api.is_rate_limited() {
                code::RATE_LIMITED
            } else {
                match api.status().as_u16() {
                    401 => code::UNAUTHORIZED,
                    403 => code::FORBIDDEN,
                    404 => code::NOT_FOUND,
                    429 => code::RATE_LIMITED,
                    _ => code::API,
                }
            }
        }
        Error::StatementTimeout(_) => code::TIMEOUT,
        Error::QueryLimit {
            limit: QueryLimit::Timeout,
            ..
        } => code::TIMEOUT,
        Error::QueryLimit { .. } => code::API,
        Error::Transport(t) if t.kind() == TransportErrorKind::Timeout => code::TIMEOUT,
        Error::Transport(_) => code::TRANSPORT,
        Error::Decode(_) => code::DECODE,
        Error::InvalidInput(_) => code::INVALID_INPUT,
        Error::BaseUrl(_) | Error::Credentials(_) => code::CONFIG,
        Error::JobFailed(_) => code::JOB_FAILED,
        Error::WaitTimeout(_) => code::WAIT_TIMEOUT,
        _ => code::FAILURE,
    }
}

fn render_carto(e: &Error, out: &mut String) {
    let _ = writeln!(out, "carto: {e}");
    if let Some(api) = e.api_error() {
        // Display joined the messages; show each on its own line when there are several.
        if api.messages().len() > 1 {
            for m in api.messages() {
                let _ = writeln!(out, "  error: {m}");
            }
        }
        for (label, value) in [
            ("hint", api.hint()),
            ("detail", api.detail()),
            ("context", api.context()),
            ("cause", api.errors_cause()),
        ] {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                let _ = writeln!(out, "  {label}: {v}");
            }
        }
        if let Some(after) = api.retry_after() {
            let _ = writeln!(out, "  retry after: {} s", after.as_secs());
        }
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = writeln!(out, "  caused by: {s}");
        source = s.source();
    }
}

/// Whether `e` is a write to a closed pipe (the reader of stdout went away).
fn is_broken_pipe(e: &Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use carto::{ApiError, JobFailure};
    use http::{HeaderMap, StatusCode};

    fn api(status: u16, body: &str) -> CliError {
        Error::from(ApiError::from_parts(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        ))
        .into()
    }

    #[test]
    fn one_status_per_kind() {
        assert_eq!(api(400, r#"{"error":["syntax"]}"#).exit_code(), code::API);
        assert_eq!(api(401, "").exit_code(), code::UNAUTHORIZED);
        assert_eq!(api(403, "").exit_code(), code::FORBIDDEN);
        assert_eq!(api(404, "").exit_code(), code::NOT_FOUND);
        assert_eq!(
            api(429, r#"{"error":["over limits"],"detail":"rate-limit"}"#).exit_code(),
            code::RATE_LIMITED
        );
        assert_eq!(
            api(
                429,
                r#"{"error":["SQL query timeout error"],"detail":"datasource"}"#
            )
            .exit_code(),
            code::TIMEOUT
        );
        let e: CliError = Error::invalid("SQL query", "empty").into();
        assert_eq!(e.exit_code(), code::INVALID_INPUT);
        let e: CliError =
            Error::JobFailed(JobFailure::new("j", "failed", Some("boom".into()))).into();
        assert_eq!(e.exit_code(), code::JOB_FAILED);
        assert!(e.render(&[]).contains("boom"));
        let e: CliError =
            Error::transport(TransportErrorKind::Connect, io::Error::other("refused")).into();
        assert_eq!(e.exit_code(), code::TRANSPORT);
        assert!(e.render(&[]).contains("caused by: refused"));
    }

    #[test]
    fn hint_detail_context_are_shown() {
        let e = api(
            400,
            r#"{"error":["column \"x\" does not exist"],"hint":"Perhaps you meant \"y\".","context":"sql"}"#,
        );
        let text = e.render(&[]);
        assert!(text.starts_with("carto: CARTO answered 400: column \"x\" does not exist\n"));
        assert!(
            text.contains("  hint: Perhaps you meant \"y\".\n"),
            "{text}"
        );
        assert!(text.contains("  context: sql\n"), "{text}");
    }

    #[test]
    fn broken_pipe_is_quiet_and_secrets_are_masked() {
        let e: CliError = Error::transport(
            TransportErrorKind::Io,
            io::Error::from(io::ErrorKind::BrokenPipe),
        )
        .into();
        assert!(matches!(e, CliError::BrokenPipe));
        assert_eq!((e.exit_code(), e.render(&[]).as_str()), (0, ""));
        let e = CliError::Config("key s3cr3t-token rejected".into());
        assert!(!e.render(&["s3cr3t-token".into()]).contains("s3cr3t"));
    }
}
