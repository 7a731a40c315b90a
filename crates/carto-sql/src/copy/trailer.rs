//! Detecting the error CARTO appends to a COPY TO body that failed after its `200`
//! head was sent (§6: "errors after headers were sent ... the JSON error object is
//! appended to the body").
//!
//! [`TrailerCheck`] holds back the last [`HOLD_BACK`] bytes of the body while passing
//! the rest on. At the end of the body it looks for a trailing `{"error":[...]}`
//! object in what it held back: when there is one, the bytes before it are passed on
//! and the object becomes an [`ApiError`] (status 200). COPY's text and CSV output
//! always end with a newline and its binary output with a `0xFFFF` trailer, so a body
//! ending in such an object is an error, not data. An appended error longer than
//! [`HOLD_BACK`] bytes is not detected. Memory stays bounded by the chunk size plus
//! [`HOLD_BACK`].

use bytes::{Bytes, BytesMut};
use carto_core::{ApiError, Error};
use carto_transport::BodyDecoder;
use http::{HeaderMap, StatusCode};

/// How many bytes at the end of a COPY TO body are held back until the end.
pub const HOLD_BACK: usize = 4096;

/// The smallest piece passed on before the end of the body.
pub(crate) const EMIT_AT: usize = 64 * 1024;

/// Holds back the tail of a COPY TO body to find an appended error; see the module
/// docs. The [`BodyDecoder`] of a streamed [`CopyTo`](super::CopyTo): its items are
/// the data, in pieces, and the appended error, if any, is the last item.
#[derive(Debug, Default)]
pub struct TrailerCheck {
    hold: BytesMut,
    ready: Option<Bytes>,
    error: Option<ApiError>,
}

impl TrailerCheck {
    /// A check at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }
}

impl BodyDecoder for TrailerCheck {
    type Item = Bytes;

    /// Takes the next chunk; the bytes that may be passed on now become the next item.
    ///
    /// Bytes are passed on in pieces of at least 64 KiB: small chunks (a
    /// server may send one per row) are gathered, so that the held-back tail is moved
    /// once per piece rather than once per chunk.
    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.hold.extend_from_slice(chunk);
        if self.hold.len() < HOLD_BACK + EMIT_AT {
            return Ok(());
        }
        let ready = self.hold.len() - HOLD_BACK;
        let out = self.hold.split_to(ready).freeze();
        // A fresh buffer for the tail, so that the next chunks are not copied into one
        // shared with the piece just passed on.
        let mut fresh = BytesMut::with_capacity(HOLD_BACK + 2 * EMIT_AT);
        fresh.extend_from_slice(&self.hold);
        self.hold = fresh;
        self.ready = Some(out);
        Ok(())
    }

    fn next_item(&mut self) -> Option<Result<Bytes, Error>> {
        if let Some(ready) = self.ready.take() {
            return Some(Ok(ready));
        }
        self.error.take().map(|e| Err(e.into()))
    }

    /// Ends the body: the remaining bytes, then the appended error if any.
    fn finish(&mut self) -> Result<(), Error> {
        let mut rest = std::mem::take(&mut self.hold);
        if let Some(start) = trailing_error(&rest) {
            let error = ApiError::from_parts(StatusCode::OK, &HeaderMap::new(), &rest[start..]);
            rest.truncate(start);
            self.error = Some(error);
        }
        self.ready = (!rest.is_empty()).then(|| rest.freeze());
        Ok(())
    }
}

/// Where a trailing `{"error": [...]}` object starts, if the data ends with one.
fn trailing_error(data: &[u8]) -> Option<usize> {
    // CARTO writes the object with nothing after it; data rows end with a newline.
    let end = data;
    if !end.ends_with(b"}") {
        return None;
    }
    let needle = b"{\"error\"";
    let start = end.windows(needle.len()).rposition(|w| w == needle)?;
    let value: serde_json::Value = serde_json::from_slice(&end[start..]).ok()?;
    value.get("error")?;
    Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(check: &mut TrailerCheck, out: &mut Vec<Bytes>) -> Option<ApiError> {
        while let Some(item) = check.next_item() {
            match item {
                Ok(b) => out.push(b),
                Err(Error::Api(e)) => return Some(*e),
                Err(e) => panic!("{e}"),
            }
        }
        None
    }

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Option<ApiError>) {
        let mut check = TrailerCheck::new();
        let mut out = Vec::new();
        for c in chunks {
            check.push(c).unwrap();
            assert!(drain(&mut check, &mut out).is_none());
        }
        check.finish().unwrap();
        let err = drain(&mut check, &mut out);
        (out.concat(), err)
    }

    #[test]
    fn clean_body_passes_whole() {
        let big = vec![b'x'; 10_000];
        let (out, err) = run(&[b"1\ta\n", &big, b"\n2\tb\n"]);
        assert_eq!(out.len(), 4 + 10_000 + 5);
        assert!(err.is_none());
        let (out, err) = run(&[]);
        assert!(out.is_empty() && err.is_none());
        // A row that merely looks like JSON is data when a newline ends it.
        let (out, err) = run(&[b"{\"error\":[\"x\"]}\n"]);
        assert_eq!(out, b"{\"error\":[\"x\"]}\n");
        assert!(err.is_none());
    }

    #[test]
    fn tiny_chunks_are_gathered_and_nothing_is_lost() {
        let row = b"12345\tsome row text\n";
        let mut check = TrailerCheck::new();
        let mut pieces = Vec::new();
        for _ in 0..20_000 {
            check.push(row).unwrap();
            assert!(drain(&mut check, &mut pieces).is_none());
        }
        let before = pieces.len();
        check.finish().unwrap();
        let err = drain(&mut check, &mut pieces);
        let rest = pieces.split_off(before).concat();
        assert!(err.is_none());
        assert!(pieces.len() > 2);
        assert!(pieces.iter().all(|p| p.len() >= EMIT_AT));
        let total: usize = pieces.iter().map(Bytes::len).sum::<usize>() + rest.len();
        assert_eq!(total, 20_000 * row.len());
        let all: Vec<u8> = pieces
            .iter()
            .flat_map(|p| p.iter().copied())
            .chain(rest.iter().copied())
            .collect();
        assert!(all.chunks(row.len()).all(|c| c == row));
    }

    #[test]
    fn appended_error_is_split_off() {
        let big = vec![b'y'; 9_000];
        let (out, err) = run(&[
            b"1\ta\n",
            &big,
            b"\n{\"error\":[\"canceling statement due to statement timeout\"]}",
        ]);
        assert_eq!(out.len(), 4 + 9_000 + 1);
        let err = err.unwrap();
        assert_eq!(err.status(), StatusCode::OK);
        assert_eq!(
            err.messages(),
            ["canceling statement due to statement timeout"]
        );
    }
}
