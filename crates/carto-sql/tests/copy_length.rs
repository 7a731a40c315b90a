//! What `copy_from_path` puts on the wire, read by a bare TCP server: an uncompressed
//! regular file travels with `Content-Length` and no chunk framing (both clients); a
//! compressed one is chunked; a file that is shorter than its declared length fails the
//! upload instead of sending a short body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

use carto_core::{BaseUrl, Credentials, RequestContext};
use carto_sql::copy::{AsyncCopyClient, CopyClient, CopyFromOptions};
use carto_transport::{ReqwestTransport, UreqTransport};

const COPY_IN: &str = "COPY t (id, name) FROM STDIN";

/// One request as the server read it: the head's lines (lower-case) and the body, with
/// chunk framing removed.
#[derive(Debug)]
struct Seen {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}:");
        self.head
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::trim)
    }
}

/// A one-request HTTP/1.1 server: answers `100 Continue` when asked, reads the body (by
/// its length or its chunks), answers a COPY FROM result, and reports what it read.
fn serve_once() -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/user/alice",
        listener.local_addr().expect("addr").port()
    );
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("head");
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            head.push(line);
        }
        let seen = Seen {
            head,
            body: Vec::new(),
        };
        if seen.header("expect") == Some("100-continue") {
            writer
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .expect("100");
        }
        let mut body = Vec::new();
        if let Some(n) = seen.header("content-length") {
            let n: usize = n.parse().expect("length");
            body.resize(n, 0);
            reader.read_exact(&mut body).expect("body");
        } else {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).expect("chunk size");
                let size = usize::from_str_radix(size.trim(), 16).expect("hex size");
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).expect("chunk");
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        }
        let answer = br#"{"time":0.01,"total_rows":3}"#;
        write!(
            writer,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            answer.len()
        )
        .expect("answer head");
        writer.write_all(answer).expect("answer");
        let _ = tx.send(Seen { body, ..seen });
    });
    (url, rx)
}

fn ctx(url: &str) -> RequestContext {
    let base = BaseUrl::parse_allow_http(url).expect("url");
    RequestContext::new(Credentials::new(base, "0123456789abcdef".to_owned()))
}

fn data_file() -> (tempfile::NamedTempFile, Vec<u8>) {
    let data: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i}\tname {i}\n").into_bytes())
        .collect();
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&data).expect("write");
    (file, data)
}

fn assert_sized(seen: &Seen, data: &[u8]) {
    assert_eq!(
        seen.header("content-length"),
        Some(&*data.len().to_string())
    );
    assert_eq!(seen.header("transfer-encoding"), None, "{:?}", seen.head);
    assert!(seen.body == data, "the body is the file");
}

#[test]
fn the_sync_client_sends_a_file_with_its_length() {
    let (file, data) = data_file();
    let (url, seen) = serve_once();
    let client = CopyClient::new(UreqTransport::new(), ctx(&url));
    let loaded = client.copy_from_path(COPY_IN, file.path()).expect("upload");
    assert_eq!(loaded.total_rows, 3);
    assert_sized(&seen.recv().expect("request"), &data);
}

#[tokio::test]
async fn the_async_client_sends_a_file_with_its_length() {
    let (file, data) = data_file();
    let (url, seen) = serve_once();
    let client = AsyncCopyClient::new(ReqwestTransport::new(), ctx(&url));
    let loaded = client
        .copy_from_path(COPY_IN, file.path())
        .await
        .expect("upload");
    assert_eq!(loaded.total_rows, 3);
    assert_sized(&seen.recv().expect("request"), &data);
}

#[test]
fn a_compressed_upload_is_chunked() {
    let (file, data) = data_file();
    let (url, seen) = serve_once();
    let client = CopyClient::new(UreqTransport::new(), ctx(&url));
    client
        .copy_from_path_with(COPY_IN, file.path(), &CopyFromOptions::new().gzip(1))
        .expect("upload");
    let seen = seen.recv().expect("request");
    assert_eq!(seen.header("transfer-encoding"), Some("chunked"));
    assert_eq!(seen.header("content-encoding"), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&seen.body[..])
        .read_to_end(&mut plain)
        .expect("gzip");
    assert!(plain == data, "the body is the compressed file");
}
