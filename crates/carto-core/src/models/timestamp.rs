use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An Auth API timestamp: `2018-02-14 13:23:12 +0000` on the wire (Ruby `Time#to_s`);
/// the `... UTC` form and RFC 3339 are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<FixedOffset>);

impl Timestamp {
    /// Parses any of the accepted forms.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z") {
            return Some(Self(t));
        }
        if let Some(naive) = text.strip_suffix(" UTC") {
            let t = NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S").ok()?;
            return Some(Self(t.and_utc().fixed_offset()));
        }
        DateTime::parse_from_rfc3339(text).ok().map(Self)
    }

    /// The current time in UTC.
    pub fn now() -> Self {
        Self(Utc::now().fixed_offset())
    }

    /// The instant in UTC.
    pub fn to_utc(&self) -> DateTime<Utc> {
        self.0.with_timezone(&Utc)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d %H:%M:%S %z"))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value.fixed_offset())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a timestamp like `2018-02-14 13:23:12 +0000`"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let a = Timestamp::parse("2018-02-14 13:23:12 +0000").unwrap();
        let b = Timestamp::parse("2018-02-14 13:23:12 UTC").unwrap();
        let c = Timestamp::parse("2018-02-14T14:23:12+01:00").unwrap();
        assert_eq!(a.to_utc(), b.to_utc());
        assert_eq!(a.to_utc(), c.to_utc());
        assert_eq!(a.to_string(), "2018-02-14 13:23:12 +0000");
        assert!(Timestamp::parse("yesterday").is_none());
    }
}
