//! Arrays: PostgreSQL's array output parsed, each element converted with its type's conversion.

use super::{Conv, write_value};

/// A parsed array literal element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArrayItem {
    /// An element (`None` for an unquoted `NULL`).
    Value(Option<String>),
    /// A nested dimension.
    Nested(Vec<ArrayItem>),
}

/// Parses PostgreSQL's array output (`{1,2,NULL}`, `{{"a b",c},{d,e}}`, `[0:1]={1,2}`).
pub(crate) fn parse_array(text: &str) -> Option<Vec<ArrayItem>> {
    let text = match text.find("={") {
        Some(i) if text.starts_with('[') => &text[i + 1..],
        _ => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    let items = parse_array_level(&chars, &mut pos)?;
    (pos == chars.len()).then_some(items)
}

fn parse_array_level(chars: &[char], pos: &mut usize) -> Option<Vec<ArrayItem>> {
    if chars.get(*pos) != Some(&'{') {
        return None;
    }
    *pos += 1;
    let mut items = Vec::new();
    if chars.get(*pos) == Some(&'}') {
        *pos += 1;
        return Some(items);
    }
    loop {
        match chars.get(*pos)? {
            '{' => items.push(ArrayItem::Nested(parse_array_level(chars, pos)?)),
            '"' => {
                *pos += 1;
                let mut s = String::new();
                loop {
                    match chars.get(*pos)? {
                        '\\' => {
                            s.push(*chars.get(*pos + 1)?);
                            *pos += 2;
                        }
                        '"' => {
                            *pos += 1;
                            break;
                        }
                        c => {
                            s.push(*c);
                            *pos += 1;
                        }
                    }
                }
                items.push(ArrayItem::Value(Some(s)));
            }
            _ => {
                let start = *pos;
                while !matches!(chars.get(*pos)?, ',' | '}') {
                    *pos += 1;
                }
                let s: String = chars[start..*pos].iter().collect();
                let s = s.trim().to_string();
                items.push(ArrayItem::Value(if s == "NULL" { None } else { Some(s) }));
            }
        }
        match chars.get(*pos)? {
            ',' => *pos += 1,
            '}' => {
                *pos += 1;
                return Some(items);
            }
            _ => return None,
        }
    }
}

pub(super) fn write_array(out: &mut String, conv: &Conv, items: &[ArrayItem]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            ArrayItem::Value(v) => write_value(out, conv, v.as_deref()),
            ArrayItem::Nested(inner) => write_array(out, conv, inner),
        }
    }
    out.push(']');
}
