//! Binary strings (`bytea`), as a Node.js `Buffer` prints in JSON.

use super::json::write_json_str;

pub(super) fn write_bytea(out: &mut String, text: &str) {
    match text.strip_prefix("\\x").and_then(|h| hex::decode(h).ok()) {
        Some(bytes) => {
            out.push_str("{\"type\":\"Buffer\",\"data\":[");
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&b.to_string());
            }
            out.push_str("]}");
        }
        None => write_json_str(out, text),
    }
}
