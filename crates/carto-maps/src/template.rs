//! Named-map templates: the document, its checks, and its instantiation (placeholders
//! substituted with the escaping each type implies).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use carto_core::Error;

use crate::mapconfig::MapConfig;

/// The only template version: `0.0.1`.
pub const TEMPLATE_VERSION: &str = "0.0.1";

/// Who may instantiate a template and read its tiles.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum TemplateAuth {
    /// Anyone.
    #[default]
    Open,
    /// Whoever sends one of `valid_tokens` as `auth_token`.
    Token {
        /// The accepted tokens.
        valid_tokens: Vec<String>,
    },
}

impl TemplateAuth {
    /// Whether a request sending `tokens` as `auth_token` passes.
    pub fn allows(&self, tokens: &[&str]) -> bool {
        match self {
            Self::Open => true,
            Self::Token { valid_tokens } => {
                tokens.iter().any(|t| valid_tokens.iter().any(|v| v == t))
            }
        }
    }
}

/// A placeholder's type, which decides how its value is written into SQL and CartoCSS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PlaceholderType {
    /// A SQL string literal's content: `'` is doubled.
    SqlLiteral,
    /// A SQL identifier's content: `"` is doubled.
    SqlIdent,
    /// A number (a JSON number, or a string that is one).
    Number,
    /// A CSS color: a name of letters, or `#` and 3 to 6 hex digits.
    CssColor,
    /// A type Windshaft refuses at instantiation, as sent.
    Other(String),
}

impl PlaceholderType {
    /// The type from its name.
    pub fn parse(text: &str) -> Self {
        match text {
            "sql_literal" => Self::SqlLiteral,
            "sql_ident" => Self::SqlIdent,
            "number" => Self::Number,
            "css_color" => Self::CssColor,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The type's name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::SqlLiteral => "sql_literal",
            Self::SqlIdent => "sql_ident",
            Self::Number => "number",
            Self::CssColor => "css_color",
            Self::Other(other) => other,
        }
    }

    /// `value` as it is written into the template, or Windshaft's error for `name`.
    pub fn render(&self, name: &str, value: &Value) -> Result<String, String> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        match self {
            Self::SqlLiteral => Ok(text.replace('\'', "''")),
            Self::SqlIdent => Ok(text.replace('"', "\"\"")),
            Self::Number => match value {
                Value::Number(n) => Ok(n.to_string()),
                Value::String(s) if is_number_text(s) => Ok(s.clone()),
                _ => Err(format!(
                    "Invalid number value for template parameter '{name}': {text}"
                )),
            },
            Self::CssColor => {
                let named = !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphabetic());
                let hex = text.strip_prefix('#').is_some_and(|h| {
                    (3..=6).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit())
                });
                if value.is_string() && (named || hex) {
                    Ok(text)
                } else {
                    Err(format!(
                        "Invalid css_color value for template parameter '{name}': {text}"
                    ))
                }
            }
            Self::Other(kind) => Err(format!("Invalid placeholder type '{kind}'")),
        }
    }
}

/// Windshaft's number pattern: `^[-+]?[\d.]?\d+([eE][+-]?\d+)?$`.
fn is_number_text(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = {
        let bytes = mantissa.as_bytes();
        let rest = match bytes.first() {
            Some(b'.') => &bytes[1..],
            Some(b) if b.is_ascii_digit() => &bytes[1..],
            _ => return false,
        };
        // `[\d.]?` took one byte; what is left must be digits (at least one, unless the
        // first byte was itself a digit and nothing follows).
        (rest.is_empty() && bytes[0].is_ascii_digit())
            || (!rest.is_empty() && rest.iter().all(u8::is_ascii_digit))
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

impl Serialize for PlaceholderType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PlaceholderType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

/// A placeholder: its type and its default value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placeholder {
    /// How values are written.
    #[serde(rename = "type")]
    pub kind: PlaceholderType,
    /// The value when instantiation gives none.
    pub default: Value,
}

impl Placeholder {
    /// A placeholder of type `kind` with `default`.
    pub fn new(kind: PlaceholderType, default: impl Into<Value>) -> Self {
        Self {
            kind,
            default: default.into(),
        }
    }
}

/// A named map's template. The members this crate knows are typed; every other one is
/// kept in [`NamedMap::other`] (the server stores templates as sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedMap {
    /// Always [`TEMPLATE_VERSION`].
    pub version: String,
    /// The name: letters, digits, `_` and `-`, starting with a letter or digit.
    pub name: String,
    /// Who may instantiate it (open when absent).
    #[serde(default)]
    pub auth: TemplateAuth,
    /// The placeholders of its SQL and CartoCSS, `<%= name %>`.
    #[serde(default)]
    pub placeholders: BTreeMap<String, Placeholder>,
    /// The layers.
    pub layergroup: MapConfig,
    /// The preview's view (zoom, center, bounds, layers shown), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<Value>,
    /// Every other member, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn valid_template_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_placeholder_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl NamedMap {
    /// A template named `name` drawing `layergroup`, open to anyone, without
    /// placeholders.
    pub fn new(name: impl Into<String>, layergroup: MapConfig) -> Self {
        Self {
            version: TEMPLATE_VERSION.to_owned(),
            name: name.into(),
            auth: TemplateAuth::Open,
            placeholders: BTreeMap::new(),
            layergroup,
            view: None,
            other: Map::new(),
        }
    }

    /// The same template, instantiated only with one of `tokens`.
    pub fn with_tokens<S: Into<String>>(mut self, tokens: impl IntoIterator<Item = S>) -> Self {
        self.auth = TemplateAuth::Token {
            valid_tokens: tokens.into_iter().map(Into::into).collect(),
        };
        self
    }

    /// The same template with a placeholder.
    pub fn with_placeholder(mut self, name: impl Into<String>, placeholder: Placeholder) -> Self {
        self.placeholders.insert(name.into(), placeholder);
        self
    }

    /// The checks Windshaft makes when a template is created or updated, in its order and
    /// with its messages.
    pub fn check(&self) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::invalid("named map", reason));
        if self.version != TEMPLATE_VERSION {
            return invalid(format!("Unsupported template version {}", self.version));
        }
        if self.name.is_empty() {
            return invalid("Missing template name".into());
        }
        if !valid_template_name(&self.name) {
            return invalid(format!(
                "Invalid characters in template name '{}'",
                self.name
            ));
        }
        if self.layergroup.layers.is_empty() {
            return invalid("Missing or empty layers array from layergroup config".into());
        }
        for name in self.placeholders.keys() {
            if !valid_placeholder_name(name) {
                return invalid(format!("Invalid characters in placeholder name '{name}'"));
            }
        }
        if let TemplateAuth::Token { valid_tokens } = &self.auth {
            if valid_tokens.is_empty() {
                return invalid("Invalid 'token' authentication: no valid_tokens".into());
            }
        }
        Ok(())
    }

    /// The MapConfig of an instance: each placeholder `<%= name %>` in the layers' `sql`
    /// and `cartocss` replaced by `params[name]` (else its default), written as its type
    /// says. Parameters that are not placeholders are ignored; a value its type refuses
    /// is Windshaft's error.
    pub fn instance(&self, params: &Map<String, Value>) -> Result<MapConfig, Error> {
        let mut values = BTreeMap::new();
        for (name, placeholder) in &self.placeholders {
            let value = params.get(name).unwrap_or(&placeholder.default);
            let text = placeholder
                .kind
                .render(name, value)
                .map_err(|reason| Error::invalid("template parameter", reason))?;
            values.insert(name.as_str(), text);
        }
        let mut config = self.layergroup.clone();
        for layer in &mut config.layers {
            for text in [&mut layer.options.sql, &mut layer.options.cartocss]
                .into_iter()
                .flatten()
            {
                *text = substitute(text, &values);
            }
        }
        Ok(config)
    }
}

/// Replaces every `<%= name %>` (white space allowed inside) whose name is in `values`;
/// others are left as they are.
fn substitute(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<%=") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        match after.find("%>") {
            Some(end) => match values.get(after[..end].trim()) {
                Some(value) => {
                    out.push_str(value);
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str("<%=");
                    rest = after;
                }
            },
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapconfig::Layer;
    use serde_json::json;

    fn template() -> NamedMap {
        NamedMap::new(
            "tornadoes",
            MapConfig::new([Layer::styled(
                "select * from t where state = '<%= state %>' and n > <%= min %> and \"<%=col%>\" is not null",
                "#l { marker-fill: <%= color %>; }",
            )]),
        )
        .with_placeholder("state", Placeholder::new(PlaceholderType::SqlLiteral, "TX"))
        .with_placeholder("min", Placeholder::new(PlaceholderType::Number, 1))
        .with_placeholder("col", Placeholder::new(PlaceholderType::SqlIdent, "yr"))
        .with_placeholder("color", Placeholder::new(PlaceholderType::CssColor, "red"))
    }

    #[test]
    fn placeholders_are_escaped_by_type() {
        let params = json!({"state": "O'Brien'; DROP TABLE t; --", "min": "2e3", "col": "a\"b", "color": "#ff6600", "other": 1});
        let config = template().instance(params.as_object().unwrap()).unwrap();
        let layer = &config.layers[0].options;
        assert_eq!(
            layer.sql.as_deref().unwrap(),
            "select * from t where state = 'O''Brien''; DROP TABLE t; --' and n > 2e3 and \"a\"\"b\" is not null"
        );
        assert_eq!(
            layer.cartocss.as_deref().unwrap(),
            "#l { marker-fill: #ff6600; }"
        );
    }

    #[test]
    fn defaults_fill_what_is_not_given_and_bad_values_are_refused() {
        let config = template().instance(&Map::new()).unwrap();
        assert!(
            config.layers[0]
                .options
                .sql
                .as_deref()
                .unwrap()
                .contains("'TX'")
        );
        for (name, value) in [
            ("min", json!("1; DROP")),
            ("color", json!("red;}")),
            ("color", json!(3)),
        ] {
            let mut params = Map::new();
            params.insert(name.into(), value);
            let err = template().instance(&params).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("template parameter '{name}'")),
                "{err}"
            );
        }
    }

    #[test]
    fn windshaft_number_pattern() {
        // As the regex reads: one optional digit or dot, then digits; so "1.5" is refused
        // (a JSON number 1.5 is accepted).
        for ok in ["1", "-1", "+12", ".5", "15", "1e5", "2E-3"] {
            assert!(is_number_text(ok), "{ok}");
        }
        for bad in [
            "", "-", "1.", "1.5", "1.2.3", "1e", "abc", "1 OR 1=1", "1..2",
        ] {
            assert!(!is_number_text(bad), "{bad}");
        }
    }

    #[test]
    fn checks_follow_windshaft() {
        template().check().unwrap();
        let mut bad = template();
        bad.name = "-x".into();
        assert!(
            bad.check()
                .unwrap_err()
                .to_string()
                .contains("Invalid characters in template name")
        );
        let mut bad = template();
        bad.version = "0.0.2".into();
        assert!(bad.check().is_err());
        let bad = template().with_placeholder("1x", Placeholder::new(PlaceholderType::Number, 1));
        assert!(bad.check().is_err());
        let bad = template().with_tokens(Vec::<String>::new());
        assert!(
            bad.check()
                .unwrap_err()
                .to_string()
                .contains("no valid_tokens")
        );
    }

    #[test]
    fn token_auth_and_the_python_sdk_template_round_trip() {
        let auth = TemplateAuth::Token {
            valid_tokens: vec!["a".into(), "b".into()],
        };
        assert!(auth.allows(&["x", "b"]));
        assert!(!auth.allows(&[]));
        assert!(TemplateAuth::Open.allows(&[]));
        let value = json!({
            "version": "0.0.1", "name": "python_sdk_test_map",
            "auth": {"method": "token", "valid_tokens": ["example_token"]},
            "placeholders": {"color": {"type": "css_color", "default": "red"}},
            "layergroup": {"version": "1.0.1", "layers": [{"type": "cartodb", "options": {
                "cartocss_version": "2.1.1", "cartocss": "#layer { polygon-fill: <%= color %>; }",
                "sql": "select * from tornados_11"}}]},
            "view": {"zoom": 4, "center": {"lng": 0, "lat": 0}},
            "api_key": "k", "client": "cps-1.11.3"
        });
        let named: NamedMap = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(named.other["client"], "cps-1.11.3");
        assert_eq!(serde_json::to_value(&named).unwrap(), value);
    }

    #[test]
    fn unknown_placeholders_stay_and_unclosed_markers_are_kept() {
        let values = BTreeMap::from([("a", "1".to_owned())]);
        assert_eq!(
            substitute("<%= a %>/<%= b %>/<%= a", &values),
            "1/<%= b %>/<%= a"
        );
    }
}
