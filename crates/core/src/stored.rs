//! Stored records: JSON with a format version, so a reader skips what it does not understand.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A record kept under one key.
pub trait Stored: Serialize + DeserializeOwned {
    /// The format version this code writes and reads.
    const VERSION: u32;

    /// The version a record says it has.
    fn version(&self) -> u32;

    fn to_bytes(&self) -> Vec<u8> {
        // Plain structs of strings, numbers and maps: serializing them cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// `None` for bytes that are not a record of the version this code reads.
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(bytes).ok().filter(|record| record.version() == Self::VERSION)
    }
}

/// Implements [`Stored`] for records with a `v` field.
macro_rules! stored {
    ($record:ty, $version:expr) => {
        impl $crate::stored::Stored for $record {
            const VERSION: u32 = $version;
            fn version(&self) -> u32 {
                self.v
            }
        }
    };
}
pub(crate) use stored;
