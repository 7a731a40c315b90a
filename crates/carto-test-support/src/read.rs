//! Readers that hand out a body in given pieces, to test decoders at every cut.

use std::collections::VecDeque;
use std::io::{self, Read};

/// Reads one chunk (or what fits of it) per `read`; empty chunks are skipped, since an
/// empty read is the end of the body.
#[derive(Debug, Clone, Default)]
pub struct ChunkReader(VecDeque<Vec<u8>>);

impl ChunkReader {
    /// A reader of `chunks`, in order.
    pub fn new<C: Into<Vec<u8>>>(chunks: impl IntoIterator<Item = C>) -> Self {
        Self(
            chunks
                .into_iter()
                .map(Into::into)
                .filter(|c| !c.is_empty())
                .collect(),
        )
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(chunk) = self.0.front_mut() else {
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.0.pop_front();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_chunk_per_read() {
        let mut r = ChunkReader::new([&b"ab"[..], b"", b"cde"]);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(r.read(&mut buf[..2]).unwrap(), 2);
        assert_eq!(&buf[..2], b"cd");
        assert_eq!(r.read(&mut buf).unwrap(), 1);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }
}
