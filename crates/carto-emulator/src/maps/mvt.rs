//! MVT tiles as Windshaft's `pg-mvt` renderer makes them: the tile envelope computed here,
//! `ST_AsMVT`/`ST_AsMVTGeom` (extent 4096, buffer 64 px), the default simplification, the
//! `&&` filter on the envelope expanded by the buffer, one MVT layer per map layer named by
//! its id, and the columns whose type becomes an MVT property.

use crate::ident::quote_ident;

/// The web-mercator world's width (`6378137 * 2 * pi`), as Windshaft writes it.
pub(crate) const WORLD: f64 = 40075016.68557849;
/// Half of it: the origin is at (-HALF, HALF), rows counted from the north.
pub(crate) const HALF: f64 = 20037508.342789245;
/// The deepest zoom a layer renders by default (`maxzoom`).
pub(crate) const MAX_ZOOM: u32 = 30;
/// The default buffer, in 256-px pixels.
pub(crate) const DEFAULT_BUFFER: f64 = 64.0;
/// The default MVT extent.
pub(crate) const DEFAULT_EXTENT: u32 = 4096;
/// The default simplification extent.
pub(crate) const DEFAULT_SIMPLIFY_EXTENT: u32 = 256;

/// The type OIDs whose columns become MVT properties (Mapnik's postgis datasource list):
/// bool, int8, int2, int4, float4, float8, numeric, bpchar, varchar, text, unknown.
pub(crate) const PROPERTY_OIDS: [u32; 11] = [16, 20, 21, 23, 700, 701, 1700, 1042, 1043, 25, 705];

/// A tile: zoom, column (wrapped into the world), row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tile {
    pub z: u32,
    pub x: u64,
    pub y: u64,
}

impl Tile {
    /// The tile of the URL's `z/x/y` (already checked as integers, `z <= 30`, `y >= 0`):
    /// `x` wraps around the world; `None` when `y` is below the world's last row.
    pub(crate) fn new(z: u32, x: i64, y: u64) -> Option<Tile> {
        let side = 1u64 << z;
        if y >= side {
            return None;
        }
        let x = x.rem_euclid(side as i64) as u64;
        Some(Tile { z, x, y })
    }

    /// The tile's side in meters.
    fn size(self) -> f64 {
        WORLD / (1u64 << self.z) as f64
    }

    /// `ST_MakeEnvelope(xmin, ymin, xmax, ymax, 3857)` of the tile.
    pub(crate) fn envelope(self) -> String {
        let size = self.size();
        let xmin = -HALF + self.x as f64 * size;
        let ymax = HALF - self.y as f64 * size;
        format!(
            "ST_MakeEnvelope({}, {}, {}, {}, 3857)",
            num(xmin),
            num(ymax - size),
            num(xmin + size),
            num(ymax)
        )
    }

    /// One 256-px pixel's size in meters at this zoom.
    pub(crate) fn resolution(self) -> f64 {
        WORLD / 256.0 / (1u64 << self.z) as f64
    }

    /// `!bbox!`: the envelope expanded by `buffer` pixels (the envelope itself without one).
    pub(crate) fn bbox(self, buffer: f64) -> String {
        if buffer > 0.0 {
            format!(
                "ST_Expand({}, {})",
                self.envelope(),
                num(self.resolution() * buffer)
            )
        } else {
            self.envelope()
        }
    }

    /// The simplification tolerance: half a pixel of a `simplify_extent`-wide tile.
    pub(crate) fn tolerance(self, simplify_extent: u32) -> f64 {
        self.size() / (f64::from(simplify_extent) * 2.0)
    }

    /// Windshaft's SQL tokens replaced for this tile: `!bbox!`, `!tile_bbox!`,
    /// `!pixel_width!`, `!pixel_height!`, `!scale_denominator!`.
    pub(crate) fn replace_tokens(self, sql: &str, buffer: f64) -> String {
        let res = num(self.resolution());
        sql.replace("!bbox!", &self.bbox(buffer))
            .replace("!tile_bbox!", &self.envelope())
            .replace("!pixel_width!", &res)
            .replace("!pixel_height!", &res)
            .replace("!scale_denominator!", &num(self.resolution() / 0.00028))
    }
}

/// A number as JavaScript prints it (shortest round-trip form; integers without `.0`).
fn num(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    format!("{v}")
}

/// A layer query with its trailing `;` (and surrounding white space) removed.
pub(crate) fn strip_semicolon(sql: &str) -> &str {
    sql.trim().trim_end_matches(';').trim_end()
}

/// The column discovery query of a layer (tokens replaced for tile 0/0/0).
pub(crate) fn schema_query(sql: &str, buffer: f64) -> String {
    let tile = Tile { z: 0, x: 0, y: 0 };
    format!(
        "SELECT * FROM ({}) __windshaft_mvt_schema LIMIT 0",
        strip_semicolon(&tile.replace_tokens(sql, buffer))
    )
}

/// The settings of a map's MVT tiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MvtSettings {
    /// `vector_extent`.
    pub extent: u32,
    /// `vector_simplify_extent`.
    pub simplify_extent: u32,
    /// The buffer in 256-px pixels (`buffersize.mvt`).
    pub buffer: f64,
}

impl Default for MvtSettings {
    fn default() -> Self {
        Self {
            extent: DEFAULT_EXTENT,
            simplify_extent: DEFAULT_SIMPLIFY_EXTENT,
            buffer: DEFAULT_BUFFER,
        }
    }
}

/// One layer of a tile: its id (the MVT layer's name), query, geometry column and the
/// columns that become properties.
pub(crate) struct MvtLayer<'a> {
    pub id: &'a str,
    pub sql: &'a str,
    pub geom_column: &'a str,
    pub columns: &'a [String],
}

/// The sub-query of one layer.
pub(crate) fn layer_query(tile: Tile, layer: &MvtLayer<'_>, s: MvtSettings) -> String {
    let geom = quote_ident(layer.geom_column);
    let simplified = if s.extent != s.simplify_extent {
        let tol = num(tile.tolerance(s.simplify_extent));
        format!("ST_Simplify(ST_RemoveRepeatedPoints({geom}, {tol}), {tol}, true)")
    } else {
        geom.clone()
    };
    let buffer = (s.buffer * f64::from(s.extent) / 256.0).round();
    let columns: String = layer
        .columns
        .iter()
        .map(|c| format!(", {}", quote_ident(c)))
        .collect();
    format!(
        "SELECT ST_AsMVT(geometries, '{name}', {extent})
                FROM (
                    SELECT ST_AsMVTGeom(
                    {simplified},
                    {envelope},
                    {extent},
                    {buffer},
                    true
                ) as the_geom_webmercator{columns}
                    FROM ({sql}) AS cdbq
                    WHERE {geom} && {bbox}
                ) AS geometries",
        name = layer.id.replace('\'', "''"),
        extent = s.extent,
        envelope = tile.envelope(),
        buffer = num(buffer),
        sql = strip_semicolon(&tile.replace_tokens(layer.sql, s.buffer)),
        bbox = tile.bbox(s.buffer),
    )
}

/// The whole tile's query: the layers' tiles concatenated, as `st_asmvt`.
pub(crate) fn tile_query(tile: Tile, layers: &[MvtLayer<'_>], s: MvtSettings) -> String {
    let parts: Vec<String> = layers
        .iter()
        .map(|l| format!("({})", layer_query(tile, l, s)))
        .collect();
    format!("SELECT ({}) AS st_asmvt", parts.join(" || "))
}

/// The bytes of a `bytea` in PostgreSQL's hex output (`\x...`).
pub(crate) fn bytea(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.strip_prefix("\\x")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_of_the_protocol_notes() {
        // Windshaft computes in decimal (`...245`); the shortest text of the same double
        // may end otherwise (`...244`): PostgreSQL reads both as the same number.
        let tile = Tile::new(1, 0, 0).unwrap();
        assert_eq!(
            numbers(&tile.envelope()),
            [-20037508.342789245, 0.0, 0.0, 20037508.342789245, 3857.0]
        );
        assert_eq!(num(tile.tolerance(256)), "39135.75848201024");
        assert_eq!(num(tile.resolution() * 64.0), "5009377.085697311");
        let z0 = Tile::new(0, 0, 0).unwrap();
        assert_eq!(num(z0.tolerance(256)), "78271.51696402048");
        assert_eq!(num(z0.resolution() * 64.0), "10018754.171394622");
        let cols = ["cartodb_id".to_owned(), "name".to_owned()];
        let layer = MvtLayer {
            id: "layer0",
            sql: "SELECT * FROM mytable;",
            geom_column: "the_geom_webmercator",
            columns: &cols,
        };
        let sql = tile_query(tile, &[layer], MvtSettings::default());
        for part in [
            "ST_AsMVT(geometries, 'layer0', 4096)",
            "ST_Simplify(ST_RemoveRepeatedPoints(\"the_geom_webmercator\", 39135.75848201024), 39135.75848201024, true)",
            "1024,",
            ") as the_geom_webmercator, \"cartodb_id\", \"name\"",
            "FROM (SELECT * FROM mytable) AS cdbq",
            "WHERE \"the_geom_webmercator\" && ST_Expand(ST_MakeEnvelope(",
            "3857), 5009377.085697311)",
        ] {
            assert!(sql.contains(part), "{part} not in {sql}");
        }
    }

    /// The numbers of a SQL call's text.
    fn numbers(text: &str) -> Vec<f64> {
        let inner = text.split_once('(').unwrap().1.trim_end_matches(')');
        inner.split(", ").map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn columns_wrap_and_rows_end() {
        assert_eq!(Tile::new(1, -1, 0).unwrap().x, 1);
        assert_eq!(Tile::new(1, 5, 1).unwrap().x, 1);
        assert!(Tile::new(1, 0, 2).is_none());
        assert!(Tile::new(30, 0, (1 << 30) - 1).is_some());
    }

    #[test]
    fn bytea_hex() {
        assert_eq!(bytea("\\x1a02").unwrap(), vec![0x1a, 2]);
        assert!(bytea("1a").is_none());
    }
}
