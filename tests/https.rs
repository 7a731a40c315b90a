//! Both clients against the emulator over HTTPS with a generated certificate: refused
//! by default, accepted when its CA is trusted, accepted with the explicit opt-out.

use carto::{Client, ClientOptions, TransportConfig, TransportErrorKind, blocking};
use carto_emulator::Emulator;
use carto_emulator::tls::TlsMode;

#[test]
fn https_trust_both_ways() {
    let emulator = Emulator::builder()
        .user("alice")
        .tls(TlsMode::SelfSigned)
        .start_blocking()
        .expect("the emulator starts");
    let creds = emulator.credentials("alice").unwrap();
    assert!(creds.base_url().is_secure());
    let ca = emulator.ca_pem().expect("a generated CA").to_owned();
    let trusted =
        ClientOptions::new().transport(TransportConfig::new().add_root_certificate_pem(ca.clone()));
    let insecure =
        ClientOptions::new().transport(TransportConfig::new().danger_accept_invalid_certs(true));

    // Sync, on ureq.
    let err = blocking::Client::new(creds.clone())
        .unwrap()
        .me()
        .unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Tls),
        "{err:?}"
    );
    let client = blocking::Client::with_options(creds.clone(), trusted.clone()).unwrap();
    assert_eq!(client.me().unwrap().user_data.username, "alice");
    assert_eq!(
        client
            .sql()
            .query::<serde_json::Value>("SELECT 1 AS one")
            .unwrap()
            .rows[0]["one"],
        1
    );
    let client = blocking::Client::with_options(creds.clone(), insecure.clone()).unwrap();
    assert_eq!(client.me().unwrap().user_data.username, "alice");

    // Async, on reqwest.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let err = Client::new(creds.clone()).unwrap().me().await.unwrap_err();
        assert_eq!(
            err.transport_kind(),
            Some(TransportErrorKind::Tls),
            "{err:?}"
        );
        let client = Client::with_options(creds.clone(), trusted).unwrap();
        assert_eq!(client.me().await.unwrap().user_data.username, "alice");
        let client = Client::with_options(creds.clone(), insecure).unwrap();
        let keys = client.api_keys().list_page(1).await.unwrap();
        assert_eq!(keys.result[0].name, "Master");
    });

    // A CA that is not the server's does not help.
    let other = Emulator::builder()
        .user("bob")
        .tls(TlsMode::SelfSigned)
        .start_blocking()
        .unwrap();
    let wrong_ca = ClientOptions::new().transport(
        TransportConfig::new().add_root_certificate_pem(other.ca_pem().unwrap().to_owned()),
    );
    let err = blocking::Client::with_options(creds, wrong_ca)
        .unwrap()
        .me()
        .unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Tls),
        "{err:?}"
    );
}
