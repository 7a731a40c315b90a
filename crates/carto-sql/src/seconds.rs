//! serde for the `time` members of the SQL API's answers: seconds as a JSON number, a
//! [`Duration`] in Rust.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Reads seconds (a JSON number, perhaps `null`) as a `Duration`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    Option::<f64>::deserialize(de)?
        .map(|secs| Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom))
        .transpose()
}

/// Writes a `Duration` as seconds, as the server sent it.
pub(crate) fn serialize<S: Serializer>(time: &Option<Duration>, ser: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => ser.serialize_some(&time.as_secs_f64()),
        None => ser.serialize_none(),
    }
}
