use super::number::{prints_as_itself, write_number_text};
use super::*;

fn conv(oid: u32, text: Option<&str>) -> String {
    let mut s = String::new();
    write_value(&mut s, &Conv::for_oid(oid), text);
    s
}

fn js(f: f64) -> String {
    let mut s = String::new();
    write_js_number(&mut s, f);
    s
}

#[test]
fn numbers_print_like_javascript() {
    assert_eq!(js(0.0), "0");
    assert_eq!(js(-0.0), "0");
    assert_eq!(js(1.0), "1");
    assert_eq!(js(123.0), "123");
    assert_eq!(js(1.5), "1.5");
    assert_eq!(js(-2.25), "-2.25");
    assert_eq!(js(0.007), "0.007");
    assert_eq!(js(1e-6), "0.000001");
    assert_eq!(js(1e-7), "1e-7");
    assert_eq!(js(1.5e-7), "1.5e-7");
    assert_eq!(js(1e21), "1e+21");
    assert_eq!(js(1.2345e22), "1.2345e+22");
    assert_eq!(js(1e20), "100000000000000000000");
    assert_eq!(js(9007199254740993.0), "9007199254740992");
    assert_eq!(js(0.1 + 0.2), "0.30000000000000004");
}

/// The number text as the general path prints it (parse, then JavaScript's rules).
fn via_double(text: &str) -> String {
    let mut s = String::new();
    match text.trim().parse::<f64>() {
        Ok(f) if f.is_finite() => write_js_number(&mut s, f),
        _ => write_json_str(&mut s, text),
    }
    s
}

#[test]
fn number_texts_that_print_as_themselves_agree_with_the_general_path() {
    let mut texts: Vec<String> = [
        "0",
        "-0",
        "7",
        "-7",
        "10",
        "120",
        "007",
        "1.50",
        "1.5",
        "-2.25",
        "0.5",
        "0.000001",
        "0.0000001",
        "0.0000015",
        "123456789012345",
        "1234567890123456",
        "9007199254740993",
        "0.1",
        "0.30000000000000004",
        "1e5",
        "+3",
        "1.",
        ".5",
        "12.0",
        "99999999999999.9",
        "999999999999999.9",
        "-0.0",
        "0.0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Integers, int8 values and the float8 texts PostgreSQL prints for i / 7.
    for i in (0..2_000_000i64).step_by(997) {
        texts.push(i.to_string());
        texts.push((-i).to_string());
        texts.push((i as f64 / 7.0).to_string());
        texts.push(format!("{}.{}", i, i % 1000));
        texts.push(format!("0.{:06}", i % 1_000_000));
    }
    for text in &texts {
        let mut fast = String::new();
        write_number_text(&mut fast, text);
        assert_eq!(fast, via_double(text), "{text}");
    }
    assert!(prints_as_itself("17636.5"));
    assert!(
        !prints_as_itself("1.50"),
        "numeric(…, 2) keeps zeros JavaScript drops"
    );
    assert!(!prints_as_itself("-0"));
    assert!(
        !prints_as_itself("1234567890123456"),
        "16 digits go through the double"
    );
}

#[test]
fn strings_escape_like_json_stringify() {
    let mut s = String::new();
    write_json_str(&mut s, "a\"b\\c\nd\u{1}é/\u{2028}");
    assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é/\u{2028}\"");
}

#[test]
fn scalar_values() {
    assert_eq!(conv(oid::BOOL, Some("t")), "true");
    assert_eq!(conv(oid::BOOL, Some("f")), "false");
    assert_eq!(conv(oid::INT4, None), "null");
    assert_eq!(conv(oid::INT4, Some("123")), "123");
    assert_eq!(
        conv(oid::INT8, Some("9007199254740993")),
        "9007199254740992"
    );
    assert_eq!(conv(oid::NUMERIC, Some("1.50")), "1.5");
    assert_eq!(conv(oid::NUMERIC, Some("NaN")), "\"NaN\"");
    assert_eq!(conv(oid::FLOAT8, Some("Infinity")), "\"Infinity\"");
    assert_eq!(conv(oid::FLOAT8, Some("-Infinity")), "\"-Infinity\"");
    assert_eq!(conv(oid::FLOAT4, Some("1.1")), "1.1");
    assert_eq!(conv(oid::TEXT, Some("hello")), "\"hello\"");
    assert_eq!(conv(oid::MONEY, Some("$12.34")), "\"$12.34\"");
    assert_eq!(conv(oid::TIME, Some("12:34:56")), "\"12:34:56\"");
    assert_eq!(
        conv(oid::UUID, Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""
    );
}

#[test]
fn dates_print_in_utc_without_milliseconds() {
    assert_eq!(
        conv(oid::DATE, Some("2020-02-29")),
        "\"2020-02-29T00:00:00Z\""
    );
    assert_eq!(
        conv(oid::TIMESTAMP, Some("2011-09-21 14:02:21.314252")),
        "\"2011-09-21T14:02:21Z\""
    );
    assert_eq!(
        conv(oid::TIMESTAMPTZ, Some("2011-09-21 14:02:21.314252+00")),
        "\"2011-09-21T14:02:21Z\""
    );
    assert_eq!(
        conv(oid::TIMESTAMPTZ, Some("2011-09-21 14:02:21+02")),
        "\"2011-09-21T12:02:21Z\""
    );
    assert_eq!(
        conv(oid::TIMESTAMPTZ, Some("2011-09-21 00:30:00-05:30")),
        "\"2011-09-21T06:00:00Z\""
    );
    // Before year 1: JavaScript's astronomical year with its sign, as CARTO writes it.
    assert_eq!(
        conv(oid::DATE, Some("0044-03-15 BC")),
        "\"-43-03-15T00:00:00Z\""
    );
    assert_eq!(
        conv(oid::DATE, Some("0001-02-29 BC")),
        "\"0-02-29T00:00:00Z\""
    );
    assert_eq!(
        conv(oid::TIMESTAMP, Some("0044-03-15 12:30:00 BC")),
        "\"-43-03-15T12:30:00Z\""
    );
    assert_eq!(
        conv(oid::TIMESTAMPTZ, Some("0044-03-15 12:30:00+01 BC")),
        "\"-43-03-15T11:30:00Z\""
    );
    assert_eq!(conv(oid::TIMESTAMPTZ, Some("infinity")), "\"Infinity\"");
    assert_eq!(conv(oid::TIMESTAMP, Some("-infinity")), "\"-Infinity\"");
}

#[test]
fn objects() {
    assert_eq!(
        conv(oid::INTERVAL, Some("1 day 02:03:04")),
        r#"{"days":1,"hours":2,"minutes":3,"seconds":4}"#
    );
    assert_eq!(
        conv(oid::INTERVAL, Some("1 year 2 mons -3 days -04:05:06.5")),
        r#"{"years":1,"months":2,"days":-3,"hours":-4,"minutes":-5,"seconds":-6,"milliseconds":-500}"#
    );
    assert_eq!(conv(oid::INTERVAL, Some("00:00:00")), "{}");
    assert_eq!(
        conv(oid::BYTEA, Some("\\x0102ff")),
        r#"{"type":"Buffer","data":[1,2,255]}"#
    );
    assert_eq!(
        conv(oid::BYTEA, Some("\\x")),
        r#"{"type":"Buffer","data":[]}"#
    );
    assert_eq!(conv(oid::POINT, Some("(1,2)")), r#"{"x":1,"y":2}"#);
    assert_eq!(
        conv(oid::CIRCLE, Some("<(1,2.5),3>")),
        r#"{"x":1,"y":2.5,"radius":3}"#
    );
    assert_eq!(
        conv(oid::JSON, Some(r#"{"a": 1.0, "b": [true, null, "x"]}"#)),
        r#"{"a":1,"b":[true,null,"x"]}"#
    );
    assert_eq!(conv(oid::JSONB, Some(r#"{"z": 1e2}"#)), r#"{"z":100}"#);
}

#[test]
fn arrays() {
    assert_eq!(conv(oid::INT4_ARRAY, Some("{1,2,NULL}")), "[1,2,null]");
    assert_eq!(
        conv(oid::INT4_ARRAY, Some("{{1,2},{3,4}}")),
        "[[1,2],[3,4]]"
    );
    assert_eq!(conv(oid::INT4_ARRAY, Some("[0:1]={5,6}")), "[5,6]");
    assert_eq!(
        conv(oid::TEXT_ARRAY, Some(r#"{a,"b c","d\"e","NULL",NULL}"#)),
        r#"["a","b c","d\"e","NULL",null]"#
    );
    assert_eq!(conv(oid::TEXT_ARRAY, Some("{}")), "[]");
    assert_eq!(conv(oid::BOOL_ARRAY, Some("{t,f}")), "[true,false]");
    assert_eq!(
        conv(oid::JSONB_ARRAY, Some(r#"{"{\"a\": 1}","[2]"}"#)),
        r#"[{"a":1},[2]]"#
    );
    assert_eq!(
        conv(oid::DATE_ARRAY, Some("{2020-01-01}")),
        r#"["2020-01-01T00:00:00Z"]"#
    );
    // no parser for int4range[]: the raw text
    assert_eq!(
        conv(oid::INT4RANGE_ARRAY, Some("{\"[1,2)\"}")),
        r#""{\"[1,2)\"}""#
    );
}
