//! Typed keys: each key carries the kind of value stored under it, so a counter cannot be read
//! as a record, a record cannot be `set` as raw bytes, and nothing `set`s a counter.
//!
//! A key is a `Key<V>` that names what is stored under it: a versioned record (`Key<JobRecord>`),
//! plain JSON (`Json<T>`), raw `Bytes`, a `Counter` or a `Number`. Keys are built only by the
//! layout functions in `keys`, so key strings have one home and stay as they were (a unit test
//! per kind pins them). Outside it a `Key` is read, written, deleted or passed on, never made.
//!
//! The engine reads and writes through `TypedKv` (`load`, `load_many`, `load_pairs`, `save`,
//! `add_to`, and `key.entry(value)` for batches), which decodes and encodes by the key's kind. A
//! counter is only ever incremented, and read back through `decode_counter`. Since `Counter` has
//! no encoding and is no record, a counter key cannot be `set`, saved, or passed where a record
//! key is expected: the compiler refuses it.

use super::counter::{decode_counter, encode_number};
use crate::stored::Stored;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::marker::PhantomData;

/// A key and what is stored under it (`V`: a [`Stored`] record, or a marker below).
pub struct Key<V> {
    text: String,
    // `fn() -> V`: a key neither owns a `V` nor stops being `Send` because of one.
    kind: PhantomData<fn() -> V>,
}

/// Bytes Hookah stores as they are (a body, a slot's job id, a flag).
pub enum Bytes {}
/// A counter: only ever `increment`ed, read back in whichever format the backend keeps.
pub enum Counter {}
/// A number Hookah `set`s itself, as ASCII decimal (never incremented).
pub enum Number {}
/// Plain JSON with no format version of its own (a channel, an attempt's detail).
pub struct Json<T>(PhantomData<fn() -> T>);

/// How the value under a key is read.
pub trait Value {
    /// What a read yields; missing or unreadable values come out as `None` (or 0 for counters).
    type Read;
    fn decode(bytes: Option<&[u8]>) -> Self::Read;
}

/// How the value under a key is written; counters have no such thing.
pub trait Settable: Value {
    type Input: ?Sized;
    fn encode(value: &Self::Input) -> Vec<u8>;
}

/// One entry of a batched write (`Kv::set_many`).
pub type Entry = (String, Vec<u8>);

impl<V> Key<V> {
    pub(super) fn new(text: String) -> Self {
        Key { text, kind: PhantomData }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<V: Value> Key<V> {
    /// Reads a value this key's batch read (`Kv::get_many`) returned.
    pub fn decode(&self, bytes: Option<&[u8]>) -> V::Read {
        V::decode(bytes)
    }
}

impl<V: Settable> Key<V> {
    /// The entry that writes `value` under this key in a batch.
    pub fn entry(&self, value: &V::Input) -> Entry {
        (self.text.clone(), V::encode(value))
    }
}

impl<R: Stored> Value for R {
    type Read = Option<R>;
    fn decode(bytes: Option<&[u8]>) -> Option<R> {
        bytes.and_then(R::from_bytes)
    }
}

impl<R: Stored> Settable for R {
    type Input = R;
    fn encode(record: &R) -> Vec<u8> {
        record.to_bytes()
    }
}

impl Value for Bytes {
    type Read = Option<Vec<u8>>;
    fn decode(bytes: Option<&[u8]>) -> Option<Vec<u8>> {
        bytes.map(<[u8]>::to_vec)
    }
}

impl Settable for Bytes {
    type Input = [u8];
    fn encode(bytes: &[u8]) -> Vec<u8> {
        bytes.to_vec()
    }
}

impl Value for Counter {
    type Read = u64;
    fn decode(bytes: Option<&[u8]>) -> u64 {
        decode_counter(bytes)
    }
}

impl Value for Number {
    type Read = Option<u64>;
    fn decode(bytes: Option<&[u8]>) -> Option<u64> {
        bytes.map(|bytes| decode_counter(Some(bytes)))
    }
}

impl Settable for Number {
    type Input = u64;
    fn encode(value: &u64) -> Vec<u8> {
        encode_number(*value)
    }
}

impl<T: Serialize + DeserializeOwned> Value for Json<T> {
    type Read = Option<T>;
    fn decode(bytes: Option<&[u8]>) -> Option<T> {
        bytes.and_then(|bytes| serde_json::from_slice(bytes).ok())
    }
}

impl<T: Serialize + DeserializeOwned> Settable for Json<T> {
    type Input = T;
    fn encode(value: &T) -> Vec<u8> {
        // Plain structs of strings and numbers: serializing them cannot fail.
        serde_json::to_vec(value).unwrap_or_default()
    }
}

impl<V> Clone for Key<V> {
    fn clone(&self) -> Self {
        Key::new(self.text.clone())
    }
}

impl<V> PartialEq for Key<V> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<V> Eq for Key<V> {}

impl<V> fmt::Debug for Key<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl<V> fmt::Display for Key<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Any key can be deleted: deletion lists (`Kv::delete_many`) take plain strings.
impl<V> From<Key<V>> for String {
    fn from(key: Key<V>) -> String {
        key.text
    }
}
