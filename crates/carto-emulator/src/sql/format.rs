//! Writers of the three output formats, fed row by row.

use crate::sql::fields::{TypeName, type_name, write_field_json};
use crate::sql::params::Format;
use crate::sql::value::{Conv, write_js_number, write_json_str, write_value};
use crate::sql::wire::{Column, Row};

/// How the columns of a result map to output keys.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Output keys in order, each with the index of the column that gives its value (with
    /// duplicate names the first position and the last value win, as in a JavaScript object).
    keys: Vec<(String, usize)>,
    convs: Vec<Conv>,
    types: Vec<(TypeName, i32)>,
    /// The `the_geom` column (GeoJSON geometry, first CSV column).
    geom: Option<usize>,
}

impl Plan {
    /// Builds the plan of a result for `format`, dropping `skipfields`.
    pub(crate) fn new(
        columns: &[Column],
        spatial: &[(u32, &'static str)],
        format: Format,
        skipfields: &[String],
    ) -> Plan {
        let mut keys: Vec<(String, usize)> = Vec::new();
        for (i, c) in columns.iter().enumerate() {
            if skipfields.iter().any(|s| s == &c.name) {
                continue;
            }
            match keys.iter_mut().find(|(k, _)| k == &c.name) {
                Some(entry) => entry.1 = i,
                None => keys.push((c.name.clone(), i)),
            }
        }
        let geom = keys.iter().find(|(k, _)| k == "the_geom").map(|(_, i)| *i);
        match format {
            Format::Json | Format::Carto3 => {}
            Format::GeoJson => keys.retain(|(k, _)| k != "the_geom" && k != "the_geom_webmercator"),
            // Every column, `the_geom_webmercator` included, as in JSON (only GeoJSON drops it).
            Format::Csv => {
                if let Some(pos) = keys.iter().position(|(k, _)| k == "the_geom") {
                    let g = keys.remove(pos);
                    keys.insert(0, g);
                }
            }
        }
        Plan {
            keys,
            convs: columns.iter().map(|c| Conv::for_oid(c.type_oid)).collect(),
            types: columns
                .iter()
                .map(|c| (type_name(c.type_oid, spatial), c.typmod))
                .collect(),
            geom,
        }
    }

    fn write_row_object(&self, out: &mut String, row: &Row) {
        out.push('{');
        for (n, (key, i)) in self.keys.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            write_json_str(out, key);
            out.push(':');
            write_value(out, &self.convs[*i], row.get(*i));
        }
        out.push('}');
    }

    /// The `fields` object.
    pub(crate) fn fields_json(&self) -> String {
        let mut out = String::from("{");
        for (n, (key, i)) in self.keys.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            write_json_str(&mut out, key);
            out.push(':');
            let (name, typmod) = &self.types[*i];
            write_field_json(&mut out, name, *typmod);
        }
        out.push('}');
        out
    }

    /// CARTO 3's `schema`: `[{"name","type"}]`, the type in CARTO's vocabulary.
    pub(crate) fn schema_json(&self) -> String {
        let mut out = String::from("[");
        for (n, (key, i)) in self.keys.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            write_json_str(&mut out, key);
            out.push_str(",\"type\":\"");
            out.push_str(carto3_type(&self.types[*i].0));
            out.push_str("\"}");
        }
        out.push(']');
        out
    }
}

/// A PostgreSQL type in CARTO 3's vocabulary (`number`, `bigint`, `string`, `geometry`,
/// `timestamp`, `object`, `boolean`, `unknown`).
pub(crate) fn carto3_type(name: &TypeName) -> &'static str {
    match name {
        TypeName::Spatial("raster") | TypeName::Unknown(_) => "unknown",
        TypeName::Spatial(_) => "geometry",
        TypeName::Known(n) => match n.as_str() {
            "int8" => "bigint",
            "int2" | "int4" | "float4" | "float8" | "numeric" | "oid" | "money" => "number",
            "bool" => "boolean",
            "date" | "timestamp" | "timestamptz" | "time" | "timetz" => "timestamp",
            "JSON" | "json" | "jsonb" | "record" => "object",
            "text" | "varchar" | "bpchar" | "char" | "name" | "uuid" | "interval" | "inet"
            | "cidr" | "macaddr" | "xml" | "bytea" | "bit" | "varbit" => "string",
            n if n.starts_with('_') => "object",
            _ => "unknown",
        },
    }
}

/// Notices grouped by `severity.toLowerCase() + "s"`, in order of first appearance.
#[derive(Debug, Default, Clone)]
pub(crate) struct Notices(Vec<(String, Vec<String>)>);

impl Notices {
    /// Adds one notice.
    pub(crate) fn push(&mut self, severity: &str, message: String) {
        let key = format!("{}s", severity.to_lowercase());
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(message),
            None => self.0.push((key, vec![message])),
        }
    }

    fn write(&self, out: &mut String) {
        for (key, list) in &self.0 {
            out.push(',');
            write_json_str(out, key);
            out.push_str(":[");
            for (i, m) in list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, m);
            }
            out.push(']');
        }
    }
}

/// The end of a result.
#[derive(Debug, Clone)]
pub(crate) struct Summary<'a> {
    pub(crate) seconds: f64,
    pub(crate) plan: Option<&'a Plan>,
    pub(crate) total_rows: u64,
    pub(crate) error: Option<&'a str>,
    pub(crate) notices: &'a Notices,
}

/// A document being written in one of the formats.
#[derive(Debug)]
pub(crate) struct Writer {
    format: Format,
    callback: Option<String>,
    rows: u64,
    started: bool,
}

impl Writer {
    /// A writer; `callback` wraps JSON and GeoJSON documents as JSONP.
    pub(crate) fn new(format: Format, callback: Option<String>) -> Writer {
        let callback = if format == Format::Csv {
            None
        } else {
            callback
        };
        Writer {
            format,
            callback,
            rows: 0,
            started: false,
        }
    }

    /// Rows written so far.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    fn start(&mut self, out: &mut String, plan: Option<&Plan>) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(cb) = &self.callback {
            out.push_str(cb);
            out.push('(');
        }
        match self.format {
            Format::Json | Format::Carto3 => out.push_str("{\"rows\":["),
            Format::GeoJson => out.push_str("{\"type\": \"FeatureCollection\", \"features\": ["),
            Format::Csv => {
                if let Some(plan) = plan {
                    let names: Vec<String> = plan.keys.iter().map(|(k, _)| csv_field(k)).collect();
                    out.push_str(&names.join(","));
                    out.push_str("\r\n");
                }
            }
        }
    }

    /// Appends one row.
    pub(crate) fn row(&mut self, out: &mut String, plan: &Plan, row: &Row) {
        self.start(out, Some(plan));
        match self.format {
            Format::Json | Format::Carto3 => {
                if self.rows > 0 {
                    out.push(',');
                }
                plan.write_row_object(out, row);
            }
            Format::GeoJson => {
                if self.rows > 0 {
                    out.push(',');
                }
                out.push_str("{\"type\":\"Feature\",\"geometry\":");
                match plan.geom.and_then(|g| row.get(g)) {
                    Some(geojson) => out.push_str(geojson),
                    None => out.push_str("null"),
                }
                out.push_str(",\"properties\":");
                plan.write_row_object(out, row);
                out.push('}');
            }
            Format::Csv => {
                let values: Vec<String> = plan
                    .keys
                    .iter()
                    .map(|(_, i)| row.get(*i).map(csv_field).unwrap_or_default())
                    .collect();
                out.push_str(&values.join(","));
                out.push_str("\r\n");
            }
        }
        self.rows += 1;
    }

    /// Appends the end of the document.
    pub(crate) fn finish(&mut self, out: &mut String, summary: &Summary<'_>) {
        self.start(out, summary.plan);
        match self.format {
            Format::Json => {
                out.push_str("],\"time\":");
                write_js_number(out, summary.seconds);
                out.push_str(",\"fields\":");
                match summary.plan {
                    Some(plan) => out.push_str(&plan.fields_json()),
                    None => out.push_str("{}"),
                }
                out.push_str(&format!(",\"total_rows\":{}", summary.total_rows));
                if let Some(e) = summary.error {
                    out.push_str(",\"error\":[");
                    write_json_str(out, e);
                    out.push(']');
                }
                summary.notices.write(out);
                out.push('}');
            }
            Format::Carto3 => {
                out.push_str("],\"schema\":");
                match summary.plan {
                    Some(plan) => out.push_str(&plan.schema_json()),
                    None => out.push_str("[]"),
                }
                out.push_str(",\"meta\":{}");
                if let Some(e) = summary.error {
                    out.push_str(",\"error\":");
                    write_json_str(out, e);
                }
                out.push('}');
            }
            Format::GeoJson => {
                out.push(']');
                if let Some(e) = summary.error {
                    out.push_str(",\"error\":[");
                    write_json_str(out, e);
                    out.push(']');
                }
                out.push('}');
            }
            Format::Csv => {}
        }
        if self.callback.is_some() {
            out.push(')');
        }
    }
}

/// A CSV field, quoted when it contains a separator, a quote, a line break or edge spaces.
fn csv_field(s: &str) -> String {
    let needs = s.contains([',', '"', '\r', '\n']) || s.starts_with(' ') || s.ends_with(' ');
    if needs {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::value::oid;

    fn col(name: &str, oid: u32) -> Column {
        Column {
            name: name.to_string(),
            type_oid: oid,
            typmod: -1,
        }
    }

    #[test]
    fn notices_group_by_severity_in_order() {
        let mut n = Notices::default();
        n.push("WARNING", "w1".into());
        n.push("NOTICE", "n1".into());
        n.push("WARNING", "w2".into());
        n.push("INFO", "i1".into());
        let mut s = String::new();
        n.write(&mut s);
        assert_eq!(
            s,
            r#","warnings":["w1","w2"],"notices":["n1"],"infos":["i1"]"#
        );
    }

    #[test]
    fn plans_dedupe_and_skip() {
        let cols = [
            col("a", oid::INT4),
            col("b", oid::TEXT),
            col("a", oid::TEXT),
            col("the_geom_webmercator", oid::TEXT),
            col("the_geom", oid::TEXT),
        ];
        let p = Plan::new(&cols, &[], Format::Json, &["b".to_string()]);
        assert_eq!(
            p.keys,
            vec![
                ("a".to_string(), 2),
                ("the_geom_webmercator".to_string(), 3),
                ("the_geom".to_string(), 4)
            ]
        );
        let p = Plan::new(&cols, &[], Format::Csv, &[]);
        let names: Vec<&str> = p.keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, vec!["the_geom", "a", "b", "the_geom_webmercator"]);
        let p = Plan::new(&cols, &[], Format::GeoJson, &[]);
        let names: Vec<&str> = p.keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(p.geom, Some(4));
    }

    #[test]
    fn empty_documents() {
        let notices = Notices::default();
        let summary = Summary {
            seconds: 0.0,
            plan: None,
            total_rows: 0,
            error: None,
            notices: &notices,
        };
        let mut s = String::new();
        Writer::new(Format::Json, None).finish(&mut s, &summary);
        assert_eq!(s, r#"{"rows":[],"time":0,"fields":{},"total_rows":0}"#);
        let mut s = String::new();
        Writer::new(Format::GeoJson, Some("cb".into())).finish(&mut s, &summary);
        assert_eq!(s, r#"cb({"type": "FeatureCollection", "features": []})"#);
        let summary = Summary {
            seconds: 0.012,
            error: Some("division by zero"),
            total_rows: 2,
            ..summary
        };
        let mut s = String::new();
        Writer::new(Format::Json, None).finish(&mut s, &summary);
        assert_eq!(
            s,
            r#"{"rows":[],"time":0.012,"fields":{},"total_rows":2,"error":["division by zero"]}"#
        );
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("  2011"), "\"  2011\"");
    }
}
