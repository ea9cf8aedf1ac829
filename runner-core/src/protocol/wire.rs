//! Strict BARE building blocks that `serde_bare` does not enforce by itself.
//!
//! `serde_bare` reads any non-zero byte as `true` (for `bool` and for the
//! `optional<T>` tag) and lets a map repeat a key. The official TypeScript codec
//! rejects all three, and so do we: a peer that sends them is sending garbage,
//! and accepting garbage leniently is how two implementations drift apart.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeTuple, Serializer};

/// `bool` that must be encoded as exactly `0` or `1`.
pub(crate) mod strict_bool {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        bool_from_byte::<D::Error>(u8::deserialize(d)?)
    }
}

fn bool_from_byte<E: de::Error>(byte: u8) -> Result<bool, E> {
    match byte {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(E::invalid_value(
            Unexpected::Unsigned(other.into()),
            &"a bool or optional tag equal to 0 or 1",
        )),
    }
}

/// `optional<T>` whose presence tag must be exactly `0` or `1`.
pub(crate) mod strict_option {
    use super::*;

    pub(crate) fn serialize<T: Serialize, S: Serializer>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(s)
    }

    pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        // BARE tuples have no length prefix and `serde_bare` lets the visitor stop
        // early, so a 2-tuple reads "tag, then the value only if the tag says so".
        d.deserialize_tuple(2, OptionVisitor(PhantomData))
    }

    struct OptionVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for OptionVisitor<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a BARE optional")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let tag: u8 = next(&mut seq)?;
            if !bool_from_byte::<A::Error>(tag)? {
                return Ok(None);
            }
            next(&mut seq).map(Some)
        }
    }
}

/// An `optional<T>` with a strict tag, usable where a seed or a sequence
/// element needs a type rather than a `with` module.
pub(crate) struct StrictOption<T>(pub(crate) Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for StrictOption<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        strict_option::deserialize(d).map(StrictOption)
    }
}

/// `optional<bool>` with both the tag and the value checked.
pub(crate) mod strict_option_bool {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
        value.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        let raw: Option<u8> = super::strict_option::deserialize(d)?;
        raw.map(bool_from_byte::<D::Error>).transpose()
    }
}

fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(seq: &mut A) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::custom("unexpected end of optional"))
}

/// A BARE `map<str><V>`, kept in wire order so that a decoded message re-encodes
/// to the same bytes. Decoding rejects a repeated key.
///
/// ```
/// use runner_core::protocol::BareMap;
/// let headers: BareMap<String> = [("content-type", "text/plain".to_string())].into_iter().collect();
/// assert_eq!(headers.get("content-type").map(String::as_str), Some("text/plain"));
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct BareMap<V>(pub Vec<(String, V)>);

impl<V> BareMap<V> {
    /// An empty map.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::BareMap;
    ///
    /// let mut map = BareMap::new();
    /// assert!(map.is_empty());
    /// map.insert("key", 1);
    /// assert_eq!(map.get("key"), Some(&1));
    /// ```
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Number of entries.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::BareMap;
    ///
    /// let map: BareMap<u32> = [("a", 1), ("b", 2), ("a", 3)].into_iter().collect();
    /// assert_eq!(map.len(), 2); // the second "a" replaced the first
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map has no entries.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::BareMap;
    ///
    /// assert!(BareMap::<String>::new().is_empty());
    /// assert!(!BareMap::from_iter([("a", 1)]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`, if present (a linear scan: these maps are small).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::BareMap;
    ///
    /// let headers: BareMap<String> = [("host", "example.com".to_string())].into_iter().collect();
    /// assert_eq!(headers.get("host").map(String::as_str), Some("example.com"));
    /// assert_eq!(headers.get("Host"), None); // keys are compared exactly
    /// ```
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Entries in wire order.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::BareMap;
    ///
    /// let map: BareMap<u32> = [("b", 2), ("a", 1)].into_iter().collect();
    /// let entries: Vec<(&str, &u32)> = map.iter().collect();
    /// assert_eq!(entries, [("b", &2), ("a", &1)]); // wire order, not sorted
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Appends an entry, or replaces the value if `key` is already present.
    ///
    /// It looks the key up in every entry: building a map of `n` entries
    /// this way costs `n²/2` comparisons. For names known to be unique (a
    /// `HeaderMap`'s), push onto `.0` instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::protocol::BareMap;
    ///
    /// let mut map = BareMap::new();
    /// map.insert("a", 1);
    /// map.insert("b", 2);
    /// map.insert("a", 3); // replaces in place
    /// assert_eq!(map.iter().collect::<Vec<_>>(), [("a", &3), ("b", &2)]);
    /// ```
    pub fn insert(&mut self, key: impl Into<String>, value: V) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for BareMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for BareMap<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = BareMap::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl<V: Serialize> Serialize for BareMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                map.serialize_entry(k, v)?;
            }
            return map.end();
        }
        // BARE: the count, then the entries — the bytes `serialize_map`
        // writes, without the error `serde_bare` builds (boxed, an
        // allocation) for a missing length on every map it writes.
        let mut tuple = s.serialize_tuple(self.0.len().saturating_mul(2).saturating_add(1))?;
        tuple.serialize_element(&serde_bare::Uint(self.0.len() as u64))?;
        for (k, v) in &self.0 {
            tuple.serialize_element(k)?;
            tuple.serialize_element(v)?;
        }
        tuple.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for BareMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MapVisitor(PhantomData))
    }
}

struct MapVisitor<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
    type Value = BareMap<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a BARE map with string keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut entries: Vec<(String, V)> = Vec::new();
        while let Some((key, value)) = access.next_entry::<String, V>()? {
            entries.push((key, value));
        }
        if has_duplicate_key(&entries) {
            return Err(de::Error::custom("map has a duplicate key"));
        }
        Ok(BareMap(entries))
    }
}

/// Duplicate check without hashing: small maps compare pairwise, large ones sort
/// a list of borrowed keys. Either way the cost is bounded by the map's size.
fn has_duplicate_key<V>(entries: &[(String, V)]) -> bool {
    if entries.len() <= 16 {
        return entries
            .iter()
            .enumerate()
            .any(|(i, (k, _))| entries[..i].iter().any(|(other, _)| other == k));
    }
    let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.windows(2).any(|pair| pair[0] == pair[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_detection_small_and_large() {
        let small: Vec<(String, ())> = vec![("a".into(), ()), ("b".into(), ()), ("a".into(), ())];
        assert!(has_duplicate_key(&small));
        let mut large: Vec<(String, ())> = (0..40).map(|i| (i.to_string(), ())).collect();
        assert!(!has_duplicate_key(&large));
        large.push(("7".into(), ()));
        assert!(has_duplicate_key(&large));
    }
}
