//! Serde helpers shared by the wire types.

use serde::{Deserialize, Deserializer};

/// Tells "field absent" (outer `None`) from "field null" (`Some(None)`) in PATCH bodies.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
