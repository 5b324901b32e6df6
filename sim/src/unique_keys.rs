//! JSON objects whose keys may each be given once.
//!
//! serde_json keeps the last of a repeated key, so a hand-written file that names a world flag
//! or a proxy lane twice would lose the first without a word. The objects people write by
//! hand (a `world`, the proxy's `lanes`) are read through [`members`], which refuses a key
//! given twice where it is read: the error then carries its line and column, as serde's own
//! refusal of a struct field given twice does.

use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, Error, MapAccess, Visitor};

/// The members of a JSON object in the order written, refusing a key given twice with
/// "duplicate key `KEY` in `place`" (`place` reads "a world object", "lanes: …"); `expecting`
/// names the object when the value is not one.
///
/// # Errors
///
/// The deserializer's error for a repeated key, a value that is not an object, or a member
/// value `V` does not accept.
///
/// # Examples
///
/// ```
/// use headroom_sim::unique_keys::members;
///
/// let read = |text: &str| {
///     let mut json = serde_json::Deserializer::from_str(text);
///     members::<_, u32>(&mut json, "an object of counts", "counts")
/// };
/// assert_eq!(read(r#"{"a": 1, "b": 2}"#).unwrap(), [("a".to_owned(), 1), ("b".to_owned(), 2)]);
/// let error = read(r#"{"a": 1, "a": 2}"#).unwrap_err();
/// assert_eq!(error.to_string(), "duplicate key `a` in counts at line 1 column 12");
/// ```
pub fn members<'de, D, V>(
    deserializer: D,
    expecting: &'static str,
    place: &'static str,
) -> Result<Vec<(String, V)>, D::Error>
where
    D: Deserializer<'de>,
    V: serde::Deserialize<'de>,
{
    deserializer.deserialize_map(Members {
        expecting,
        place,
        value: PhantomData,
    })
}

struct Members<V> {
    expecting: &'static str,
    place: &'static str,
    value: PhantomData<V>,
}

impl<'de, V: serde::Deserialize<'de>> Visitor<'de> for Members<V> {
    type Value = Vec<(String, V)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut seen = BTreeSet::new();
        let mut members = Vec::new();
        while let Some(key) = access.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(A::Error::custom(format_args!(
                    "duplicate key `{key}` in {}",
                    self.place
                )));
            }
            members.push((key, access.next_value()?));
        }
        Ok(members)
    }
}
