//! Serde helpers shared by the wire types.

use serde::{Deserialize, Deserializer, Serializer};

use crate::Timestamp;

/// Tells "field absent" (outer `None`) from "field null" (`Some(None)`) in PATCH bodies.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub fn iso<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_iso())
}

pub fn iso_opt<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.to_iso()),
        None => s.serialize_none(),
    }
}
