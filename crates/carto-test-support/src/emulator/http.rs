//! Requests to an emulator's HTTP API from a test: a client, a whole reply, Basic auth.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The base URL of `user` of `emu`, without its trailing slash.
pub fn base(emu: &carto_emulator::Emulator, user: &str) -> String {
    emu.user(user).unwrap().base_url().as_str().to_owned()
}

/// The master key of `user` of `emu`.
pub fn master(emu: &carto_emulator::Emulator, user: &str) -> String {
    emu.master_key(user).unwrap().expose_secret().to_owned()
}

/// An HTTP client (plain http; the rustls provider is installed for reqwest's sake).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// A response: status, headers and body (JSON when it parses).
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub text: String,
}

impl Reply {
    /// Reads a response whole.
    pub async fn read(r: reqwest::Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }

    /// The body as JSON; panics showing it when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

/// Sends a request with Basic auth (`user`, `token`) when given.
pub async fn send(
    c: &reqwest::Client,
    method: Method,
    url: &str,
    basic: Option<(&str, &str)>,
    json: Option<&Value>,
) -> Reply {
    let mut rb = c.request(method, url);
    if let Some((u, t)) = basic {
        rb = rb.basic_auth(u, Some(t));
    }
    if let Some(j) = json {
        rb = rb
            .header("content-type", "application/json")
            .body(j.to_string());
    }
    Reply::read(rb.send().await.unwrap()).await
}

/// Sends a form-encoded POST.
pub async fn post_form(c: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Reply {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = c
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    Reply::read(r).await
}

/// The keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}
