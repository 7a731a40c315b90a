//! Geometric types with a parser in node-postgres (`point`, `circle`).

use super::json::write_json_str;
use super::number::write_number_text;

pub(super) fn write_point_like(out: &mut String, text: &str, circle: bool) {
    let nums: Vec<&str> = text
        .split(['(', ')', '<', '>', ','])
        .filter(|s| !s.trim().is_empty())
        .collect();
    let names: &[&str] = if circle {
        &["x", "y", "radius"]
    } else {
        &["x", "y"]
    };
    if nums.len() != names.len() {
        write_json_str(out, text);
        return;
    }
    out.push('{');
    for (i, (name, n)) in names.iter().zip(nums).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"{name}\":"));
        write_number_text(out, n.trim());
    }
    out.push('}');
}
