//! `queryParameters` of the SQL API v3, in the style of the connection's warehouse:
//! positional `$1, $2` with an array (PostgreSQL, Redshift), positional `:1, :2` with
//! an array (Snowflake), named `@name` with an object (BigQuery, CARTO Data
//! Warehouse).

use serde::Serialize;
use serde_json::{Map, Value};

use carto_core::Error;

/// The warehouse behind a connection, as far as parameters are concerned.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Warehouse {
    /// PostgreSQL: `$1, $2, ...` and an array.
    Postgres,
    /// Amazon Redshift: `$1, $2, ...` and an array.
    Redshift,
    /// Snowflake: `:1, :2, ...` and an array.
    Snowflake,
    /// BigQuery, and the CARTO Data Warehouse (`carto_dw`): `@name` and an object.
    BigQuery,
}

/// How placeholders are written in the SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamStyle {
    /// `$1, $2, ...` (1-based), values in an array.
    Dollar,
    /// `:1, :2, ...` (1-based), values in an array.
    Colon,
    /// `@name`, values in an object.
    At,
}

impl Warehouse {
    /// The placeholder style this warehouse uses.
    pub fn param_style(self) -> ParamStyle {
        match self {
            Self::Postgres | Self::Redshift => ParamStyle::Dollar,
            Self::Snowflake => ParamStyle::Colon,
            Self::BigQuery => ParamStyle::At,
        }
    }

    /// The warehouse of a CARTO provider name (`postgres`, `redshift`, `snowflake`,
    /// `bigquery`, `carto_dw`), if this crate knows its style.
    pub fn from_provider(provider: &str) -> Option<Self> {
        match provider.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(Self::Postgres),
            "redshift" => Some(Self::Redshift),
            "snowflake" => Some(Self::Snowflake),
            "bigquery" | "carto_dw" | "carto" => Some(Self::BigQuery),
            _ => None,
        }
    }
}

impl ParamStyle {
    /// The placeholder of parameter `n` (1-based) or `name`, as written in SQL.
    pub fn placeholder(self, n: usize, name: &str) -> String {
        match self {
            Self::Dollar => format!("${n}"),
            Self::Colon => format!(":{n}"),
            Self::At => format!("@{name}"),
        }
    }
}

/// The values of a query's placeholders: an array for positional styles, an object
/// for named ones. Serializes as the `queryParameters` JSON CARTO expects.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum QueryParameters {
    /// Values of `$1, $2, ...` or `:1, :2, ...`, in order.
    Positional(Vec<Value>),
    /// Values of `@name`, by name.
    Named(Map<String, Value>),
}

impl QueryParameters {
    /// Positional values, in order.
    pub fn positional<V: Into<Value>>(values: impl IntoIterator<Item = V>) -> Self {
        Self::Positional(values.into_iter().map(Into::into).collect())
    }

    /// Named values.
    pub fn named<K: Into<String>, V: Into<Value>>(
        values: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::Named(
            values
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Positional(v) => v.is_empty(),
            Self::Named(m) => m.is_empty(),
        }
    }

    /// Checks that these values fit `style`: an array for `$n` and `:n`, an object of
    /// identifier names (letters, digits, `_`, not starting with a digit) for `@name`.
    pub fn check_style(&self, style: ParamStyle) -> Result<(), Error> {
        match (self, style) {
            (Self::Positional(_), ParamStyle::Dollar | ParamStyle::Colon) => Ok(()),
            (Self::Named(map), ParamStyle::At) => match map.keys().find(|k| !is_identifier(k)) {
                Some(bad) => Err(Error::invalid(
                    "query parameters",
                    format!("`{bad}` is not a parameter name (letters, digits and _)"),
                )),
                None => Ok(()),
            },
            (Self::Named(_), _) => Err(Error::invalid(
                "query parameters",
                "this warehouse takes positional parameters ($1 or :1) as a list, not named ones",
            )),
            (Self::Positional(_), ParamStyle::At) => Err(Error::invalid(
                "query parameters",
                "this warehouse takes named parameters (@name) as an object, not a list",
            )),
        }
    }

    /// The JSON text sent in a GET query string.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("JSON values serialize")
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_warehouse_has_its_style() {
        assert_eq!(Warehouse::Postgres.param_style(), ParamStyle::Dollar);
        assert_eq!(Warehouse::Redshift.param_style(), ParamStyle::Dollar);
        assert_eq!(Warehouse::Snowflake.param_style(), ParamStyle::Colon);
        assert_eq!(Warehouse::BigQuery.param_style(), ParamStyle::At);
        assert_eq!(
            Warehouse::from_provider("carto_dw"),
            Some(Warehouse::BigQuery)
        );
        assert_eq!(
            Warehouse::from_provider("PostgreSQL"),
            Some(Warehouse::Postgres)
        );
        assert_eq!(Warehouse::from_provider("databricks"), None);
        assert_eq!(ParamStyle::Dollar.placeholder(2, ""), "$2");
        assert_eq!(ParamStyle::Colon.placeholder(1, ""), ":1");
        assert_eq!(ParamStyle::At.placeholder(0, "city"), "@city");
    }

    #[test]
    fn values_serialize_as_carto_expects() {
        let p = QueryParameters::positional([json!(100000), json!("Supermarket")]);
        assert_eq!(p.to_json(), r#"[100000,"Supermarket"]"#);
        assert!(p.check_style(ParamStyle::Dollar).is_ok());
        assert!(p.check_style(ParamStyle::Colon).is_ok());
        assert!(
            p.check_style(ParamStyle::At)
                .unwrap_err()
                .is_invalid_input()
        );
        let n = QueryParameters::named([("lat", json!(40.4168)), ("lon", json!(-3.7038))]);
        assert_eq!(n.to_json(), r#"{"lat":40.4168,"lon":-3.7038}"#);
        assert!(n.check_style(ParamStyle::At).is_ok());
        assert!(n.check_style(ParamStyle::Dollar).is_err());
        let bad = QueryParameters::named([("1x", 1)]);
        assert!(
            bad.check_style(ParamStyle::At)
                .unwrap_err()
                .to_string()
                .contains("1x")
        );
        assert!(QueryParameters::positional(Vec::<Value>::new()).is_empty());
    }
}
