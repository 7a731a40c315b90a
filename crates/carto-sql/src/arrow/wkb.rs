//! PostGIS EWKB to OGC/ISO WKB and back, by rewriting geometry headers only.
//!
//! The SQL API (and PostgreSQL's text output, so COPY TO) writes geometries as hex
//! EWKB: WKB whose type word carries PostGIS flags (`0x8000_0000` Z, `0x4000_0000` M,
//! `0x2000_0000` SRID) and, with the SRID flag, the SRID after it. Arrow columns hold
//! ISO WKB (what GeoArrow's `geoarrow.wkb` means: Z/M as `+1000`/`+2000`/`+3000` type
//! codes, no SRID) with the SRID in the field metadata; loading them back writes EWKB
//! with the column's SRID so a constrained column (`geometry(Point,4326)`) accepts it.
//!
//! Only the headers change: coordinates are copied as they are, so the conversion is
//! lossless both ways. Every count is checked against the bytes left, and nesting is
//! bounded, so malformed input is an error, never a panic or a huge allocation.

const FLAG_Z: u32 = 0x8000_0000;
const FLAG_M: u32 = 0x4000_0000;
const FLAG_SRID: u32 = 0x2000_0000;
const MAX_DEPTH: u32 = 32;

/// How headers are written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// ISO WKB: no SRID, Z/M as type-code offsets.
    Iso,
    /// EWKB: PostGIS flags, with this SRID on the outer geometry when it is given.
    Ewkb(Option<i32>),
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    out: Vec<u8>,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| "the WKB value is cut off".to_owned())?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u32(&mut self, little: bool) -> Result<u32, String> {
        let b: [u8; 4] = self.take(4)?.try_into().expect("4 bytes");
        Ok(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// Copies `n` bytes to the output.
    fn copy(&mut self, n: usize) -> Result<(), String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| "the WKB value is cut off".to_owned())?;
        self.out.extend_from_slice(&self.data[self.pos..end]);
        self.pos = end;
        Ok(())
    }

    fn put_u32(&mut self, v: u32, little: bool) {
        self.out.extend_from_slice(&if little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        });
    }

    /// Copies a count and returns it.
    fn count(&mut self, little: bool) -> Result<usize, String> {
        let n = self.u32(little)?;
        self.put_u32(n, little);
        Ok(n as usize)
    }

    /// Copies `n` points of `dims` doubles, checking the length first.
    fn points(&mut self, n: usize, dims: usize) -> Result<(), String> {
        let bytes = n
            .checked_mul(dims * 8)
            .ok_or_else(|| "the WKB value is cut off".to_owned())?;
        self.copy(bytes)
    }

    /// Rewrites one geometry (header and body); returns the SRID its header carried.
    fn geometry(&mut self, target: Target, outer: bool, depth: u32) -> Result<Option<i32>, String> {
        if depth > MAX_DEPTH {
            return Err("the WKB value nests too deep".to_owned());
        }
        let order = self.take(1)?[0];
        let little = match order {
            0 => false,
            1 => true,
            other => return Err(format!("bad WKB byte order {other}")),
        };
        let word = self.u32(little)?;
        let mut z = word & FLAG_Z != 0;
        let mut m = word & FLAG_M != 0;
        let code = word & 0x0FFF_FFFF;
        let (base, iso_z, iso_m) = match code / 1000 {
            0 => (code, false, false),
            1 => (code % 1000, true, false),
            2 => (code % 1000, false, true),
            3 => (code % 1000, true, true),
            _ => return Err(format!("unknown WKB geometry type {code}")),
        };
        z |= iso_z;
        m |= iso_m;
        let srid = if word & FLAG_SRID != 0 {
            Some(self.u32(little)? as i32)
        } else {
            None
        };
        self.out.push(order);
        match target {
            Target::Iso => {
                self.put_u32(base + 1000 * u32::from(z) + 2000 * u32::from(m), little);
            }
            Target::Ewkb(srid) => {
                let srid = srid.filter(|_| outer);
                let mut w = base;
                if z {
                    w |= FLAG_Z;
                }
                if m {
                    w |= FLAG_M;
                }
                if srid.is_some() {
                    w |= FLAG_SRID;
                }
                self.put_u32(w, little);
                if let Some(srid) = srid {
                    self.put_u32(srid as u32, little);
                }
            }
        }
        let dims = 2 + usize::from(z) + usize::from(m);
        match base {
            // Point
            1 => self.points(1, dims)?,
            // LineString, CircularString
            2 | 8 => {
                let n = self.count(little)?;
                self.points(n, dims)?;
            }
            // Polygon, Triangle
            3 | 17 => {
                let rings = self.count(little)?;
                for _ in 0..rings {
                    let n = self.count(little)?;
                    self.points(n, dims)?;
                }
            }
            // Multi*, GeometryCollection, CompoundCurve, CurvePolygon, MultiCurve,
            // MultiSurface, PolyhedralSurface, TIN
            4..=7 | 9..=12 | 15 | 16 => {
                let parts = self.count(little)?;
                for _ in 0..parts {
                    self.geometry(target, false, depth + 1)?;
                }
            }
            other => return Err(format!("unknown WKB geometry type {other}")),
        }
        Ok(srid)
    }
}

/// Rewrites the headers of a (E)WKB value for `target`; returns the new bytes and the
/// SRID the value carried (`None` without one).
pub(crate) fn convert(data: &[u8], target: Target) -> Result<(Vec<u8>, Option<i32>), String> {
    let mut cursor = Cursor {
        data,
        pos: 0,
        out: Vec::with_capacity(data.len() + 4),
    };
    let srid = cursor.geometry(target, true, 0)?;
    if cursor.pos != data.len() {
        return Err("bytes after the end of the WKB value".to_owned());
    }
    Ok((cursor.out, srid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn point_with_srid_becomes_iso_and_back() {
        // SRID=4326;POINT(1 2), as PostGIS writes it.
        let ewkb = unhex("0101000020E6100000000000000000F03F0000000000000040");
        let (iso, srid) = convert(&ewkb, Target::Iso).unwrap();
        assert_eq!(srid, Some(4326));
        assert_eq!(
            hex::encode_upper(&iso),
            "0101000000000000000000F03F0000000000000040"
        );
        let (back, none) = convert(&iso, Target::Ewkb(Some(4326))).unwrap();
        assert_eq!(none, None);
        assert_eq!(back, ewkb);
    }

    #[test]
    fn z_and_m_flags_map_to_iso_codes_in_nested_parts() {
        // SRID=4326;MULTIPOINT Z((1 2 3)) in EWKB: outer 0xA0000004, inner 0x80000001.
        let mut ewkb = vec![1];
        ewkb.extend_from_slice(&0xA000_0004u32.to_le_bytes());
        ewkb.extend_from_slice(&4326u32.to_le_bytes());
        ewkb.extend_from_slice(&1u32.to_le_bytes());
        ewkb.push(1);
        ewkb.extend_from_slice(&0x8000_0001u32.to_le_bytes());
        for v in [1.0f64, 2.0, 3.0] {
            ewkb.extend_from_slice(&v.to_le_bytes());
        }
        let (iso, srid) = convert(&ewkb, Target::Iso).unwrap();
        assert_eq!(srid, Some(4326));
        assert_eq!(&iso[1..5], &1004u32.to_le_bytes());
        assert_eq!(&iso[10..14], &1001u32.to_le_bytes());
        let (back, _) = convert(&iso, Target::Ewkb(Some(4326))).unwrap();
        assert_eq!(back, ewkb);
    }

    #[test]
    fn malformed_values_are_errors() {
        assert!(convert(&[], Target::Iso).is_err());
        assert!(convert(&[7, 1, 0, 0, 0], Target::Iso).is_err());
        // A linestring claiming 2^32-1 points in 9 bytes.
        let mut line = vec![1];
        line.extend_from_slice(&2u32.to_le_bytes());
        line.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(convert(&line, Target::Iso).is_err());
        let mut point = unhex("0101000000000000000000F03F0000000000000040");
        point.push(0);
        assert!(convert(&point, Target::Iso).is_err());
    }
}
