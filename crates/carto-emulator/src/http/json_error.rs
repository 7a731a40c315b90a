//! The message of a malformed JSON body as CARTO's SQL API gives it: Node's `JSON.parse`
//! (V8) error text, with positions counted in UTF-16 code units as JavaScript does.
//!
//! Only used once `serde_json` refused a body, to say why the way CARTO says it.

/// Context characters around an unexpected token in V8's message.
const CONTEXT: usize = 10;

/// `JSON.parse`'s error message for `body` (lossily decoded as UTF-8, as Node does), or `None`
/// when `JSON.parse` would accept it.
pub(crate) fn message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let src: Vec<u16> = text.encode_utf16().collect();
    let mut p = Parser { src: &src, pos: 0 };
    match p.document() {
        Ok(()) => None,
        Err(e) => Some(p.describe(e)),
    }
}

/// What went wrong, and where (the parser's position).
enum Fault {
    /// A character that cannot start or continue a value here.
    Token,
    /// A number where none may be (`01`).
    Number,
    /// One of V8's specific messages, followed by ` at position N`.
    At(&'static str),
}

struct Parser<'a> {
    src: &'a [u16],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u16> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(0x20 | 0x09 | 0x0A | 0x0D)) {
            self.pos += 1;
        }
    }

    fn is(&self, c: char) -> bool {
        self.peek() == Some(c as u16)
    }

    fn document(&mut self) -> Result<(), Fault> {
        self.skip_ws();
        self.value()?;
        self.skip_ws();
        if self.peek().is_some() {
            return Err(Fault::At("Unexpected non-whitespace character after JSON"));
        }
        Ok(())
    }

    fn value(&mut self) -> Result<(), Fault> {
        match self.peek().map(|c| c as u8 as char) {
            _ if self.peek().is_some_and(|c| c > 0x7F) => Err(Fault::Token),
            Some('{') => self.object(),
            Some('[') => self.array(),
            Some('"') => self.string(),
            Some('-' | '0'..='9') => self.number(),
            Some('t') => self.literal("true"),
            Some('f') => self.literal("false"),
            Some('n') => self.literal("null"),
            _ => Err(Fault::Token),
        }
    }

    fn object(&mut self) -> Result<(), Fault> {
        self.pos += 1;
        self.skip_ws();
        if self.is('}') {
            self.pos += 1;
            return Ok(());
        }
        if !self.is('"') {
            return Err(Fault::At("Expected property name or '}' in JSON"));
        }
        loop {
            self.string()?;
            self.skip_ws();
            if !self.is(':') {
                return Err(Fault::At("Expected ':' after property name in JSON"));
            }
            self.pos += 1;
            self.skip_ws();
            self.value()?;
            self.skip_ws();
            if self.is('}') {
                self.pos += 1;
                return Ok(());
            }
            if !self.is(',') {
                return Err(Fault::At(
                    "Expected ',' or '}' after property value in JSON",
                ));
            }
            self.pos += 1;
            self.skip_ws();
            if !self.is('"') {
                return Err(Fault::At("Expected double-quoted property name in JSON"));
            }
        }
    }

    fn array(&mut self) -> Result<(), Fault> {
        self.pos += 1;
        self.skip_ws();
        if self.is(']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.skip_ws();
            if self.is(']') {
                self.pos += 1;
                return Ok(());
            }
            if !self.is(',') {
                return Err(Fault::At("Expected ',' or ']' after array element in JSON"));
            }
            self.pos += 1;
            self.skip_ws();
        }
    }

    fn string(&mut self) -> Result<(), Fault> {
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(Fault::At("Unterminated string in JSON")),
                Some(0x22) => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(c) if c < 0x20 => {
                    return Err(Fault::At("Bad control character in string literal in JSON"));
                }
                Some(0x5C) => {
                    self.pos += 1;
                    match self.peek().map(|c| c as u8 as char) {
                        Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't')
                            if self.peek().is_some_and(|c| c < 0x80) =>
                        {
                            self.pos += 1;
                        }
                        Some('u') if self.peek().is_some_and(|c| c < 0x80) => {
                            self.pos += 1;
                            for _ in 0..4 {
                                match self.peek() {
                                    Some(c)
                                        if char::from_u32(c.into())
                                            .is_some_and(|c| c.is_ascii_hexdigit()) =>
                                    {
                                        self.pos += 1;
                                    }
                                    _ => return Err(Fault::At("Bad Unicode escape in JSON")),
                                }
                            }
                        }
                        None => return Err(Fault::At("Unterminated string in JSON")),
                        _ => return Err(Fault::At("Bad escaped character in JSON")),
                    }
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| (0x30..=0x39).contains(&c)) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), Fault> {
        if self.is('-') {
            self.pos += 1;
            if !self.peek().is_some_and(|c| (0x30..=0x39).contains(&c)) {
                return Err(Fault::At("No number after minus sign in JSON"));
            }
        }
        if self.is('0') {
            self.pos += 1;
            if self.peek().is_some_and(|c| (0x30..=0x39).contains(&c)) {
                return Err(Fault::Number);
            }
        } else {
            self.digits();
        }
        if self.is('.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Fault::At("Unterminated fractional number in JSON"));
            }
        }
        if self.is('e') || self.is('E') {
            self.pos += 1;
            if self.is('+') || self.is('-') {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Fault::At("Exponent part is missing a number in JSON"));
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &str) -> Result<(), Fault> {
        for b in word.bytes() {
            if self.peek() != Some(u16::from(b)) {
                return Err(Fault::Token);
            }
            self.pos += 1;
        }
        Ok(())
    }

    /// V8's message for a fault at the current position.
    fn describe(&self, fault: Fault) -> String {
        let pos = self.pos;
        match fault {
            Fault::At(what) => format!("{what} at position {pos}"),
            Fault::Number => format!("Unexpected number in JSON at position {pos}"),
            Fault::Token => {
                let Some(c) = self.peek() else {
                    return "Unexpected end of JSON input".to_string();
                };
                let token = String::from_utf16_lossy(&[c]);
                let len = self.src.len();
                let text = |a: usize, b: usize| String::from_utf16_lossy(&self.src[a..b.min(len)]);
                if len < CONTEXT * 2 + 1 {
                    format!(
                        "Unexpected token '{token}', \"{}\" is not valid JSON",
                        text(0, len)
                    )
                } else if pos < CONTEXT {
                    format!(
                        "Unexpected token '{token}', \"{}\"... is not valid JSON",
                        text(0, pos + CONTEXT)
                    )
                } else if pos < len - CONTEXT {
                    format!(
                        "Unexpected token '{token}', ...\"{}\"... is not valid JSON",
                        text(pos - CONTEXT, pos + CONTEXT)
                    )
                } else {
                    format!(
                        "Unexpected token '{token}', ...\"{}\" is not valid JSON",
                        text(pos - CONTEXT, len)
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::message;

    fn m(body: &str) -> String {
        message(body.as_bytes()).unwrap_or_else(|| panic!("{body} is valid"))
    }

    /// Random texts over JSON's alphabet and random edits of valid documents: never a panic,
    /// and whatever `serde_json` accepts, `JSON.parse` accepts too (no message).
    #[test]
    fn random_bodies_never_panic_and_agree_with_serde_on_valid_ones() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x0ca2_70e5);
        let alphabet: Vec<char> = "{}[]:,\"\\/ \t\n0123456789-+.eEtrufalsn\u{e9}\u{1d11e}xubfr"
            .chars()
            .collect();
        let seeds = [
            r#"{"q": "SELECT 1", "format": "json", "page": 0}"#,
            r#"[1, -2.5e+3, true, false, null, "\u00e9\n", {"a": []}]"#,
        ];
        let mut accepted = 0;
        for i in 0..20_000 {
            let text: String = if i % 2 == 0 {
                let n = rng.random_range(0..24);
                (0..n)
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                    .collect()
            } else {
                let mut chars: Vec<char> = seeds[i % seeds.len()].chars().collect();
                for _ in 0..rng.random_range(1..4) {
                    let at = rng.random_range(0..chars.len());
                    match rng.random_range(0..3) {
                        0 => {
                            chars.remove(at);
                        }
                        1 => chars.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                        _ => chars[at] = alphabet[rng.random_range(0..alphabet.len())],
                    }
                    if chars.is_empty() {
                        break;
                    }
                }
                chars.into_iter().collect()
            };
            let verdict = message(text.as_bytes());
            if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
                accepted += 1;
                assert_eq!(verdict, None, "{text:?}");
            }
        }
        assert!(
            accepted > 100,
            "the generator must also make valid documents"
        );
    }

    #[test]
    fn valid_documents_have_no_message() {
        for ok in [
            r#"{"q":"SELECT 1"}"#,
            "[1, 2.5e-3, true, null]",
            r#""\u00e9""#,
            " 0 ",
        ] {
            assert_eq!(message(ok.as_bytes()), None, "{ok}");
        }
    }

    #[test]
    fn v8_messages() {
        assert_eq!(
            m(r#"{"q": "SELECT 1" "x": 1}"#),
            "Expected ',' or '}' after property value in JSON at position 17"
        );
        assert_eq!(
            m(r#"{"q": "SELECT 1""#),
            "Expected ',' or '}' after property value in JSON at position 16"
        );
        assert_eq!(m(""), "Unexpected end of JSON input");
        assert_eq!(m(r#"{"q":"#), "Unexpected end of JSON input");
        assert_eq!(
            m("{q: 1}"),
            "Expected property name or '}' in JSON at position 1"
        );
        assert_eq!(
            m(r#"{"q" 1}"#),
            "Expected ':' after property name in JSON at position 5"
        );
        assert_eq!(
            m(r#"{"a":1,}"#),
            "Expected double-quoted property name in JSON at position 7"
        );
        assert_eq!(
            m("[1 2]"),
            "Expected ',' or ']' after array element in JSON at position 3"
        );
        assert_eq!(
            m(r#"{"q": "abc"#),
            "Unterminated string in JSON at position 10"
        );
        assert_eq!(
            m("{\"q\": \"a\tb\"}"),
            "Bad control character in string literal in JSON at position 8"
        );
        assert_eq!(
            m(r#"{"q": "a\xb"}"#),
            "Bad escaped character in JSON at position 9"
        );
        assert_eq!(
            m(r#"{"q": "\u12g4"}"#),
            "Bad Unicode escape in JSON at position 11"
        );
        assert_eq!(
            m(r#"{"n": -x}"#),
            "No number after minus sign in JSON at position 7"
        );
        assert_eq!(m(r#"{"n": 01}"#), "Unexpected number in JSON at position 7");
        assert_eq!(
            m(r#"{"n": 1.}"#),
            "Unterminated fractional number in JSON at position 8"
        );
        assert_eq!(
            m(r#"{"n": 1e}"#),
            "Exponent part is missing a number in JSON at position 8"
        );
        assert_eq!(
            m("{} x"),
            "Unexpected non-whitespace character after JSON at position 3"
        );
        // Unexpected tokens: the whole text when short, else ten characters of context.
        assert_eq!(
            m(r#"{"a":}"#),
            r#"Unexpected token '}', "{"a":}" is not valid JSON"#
        );
        assert_eq!(
            m(r#"{"q": tru, "other": 12345}"#),
            r#"Unexpected token ',', "{"q": tru, "other":"... is not valid JSON"#
        );
        assert_eq!(
            m(r#"x{"q": "SELECT 1 FROM t"}"#),
            r#"Unexpected token 'x', "x{"q": "SE"... is not valid JSON"#
        );
        assert_eq!(
            m(r#"{"q": "SELECT 1 FROM t", "n": }"#),
            r#"Unexpected token '}', ..." t", "n": }" is not valid JSON"#
        );
        assert_eq!(
            m(r#"{"aaaaaaaaaa": 1, "b": x, "cccccccccc": 2}"#),
            r#"Unexpected token 'x', ...": 1, "b": x, "cccccc"... is not valid JSON"#
        );
        // Positions count UTF-16 code units, as JavaScript does.
        assert_eq!(
            m(r#"{"q": "𝄞" "x"}"#),
            "Expected ',' or '}' after property value in JSON at position 11"
        );
    }
}
