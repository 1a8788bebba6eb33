//! Reads and writes through typed keys, on top of any `Kv`: the value's kind comes from the key,
//! so no caller decodes or encodes by hand.

use super::key::{Counter, Key, Settable, Value};
use crate::ports::{Kv, KvError};

/// What [`TypedKv::load_pairs`] reads for one pair.
pub type Pair<A, B> = (<A as Value>::Read, <B as Value>::Read);

/// Typed access to the store; every `Kv` has it.
pub trait TypedKv: Kv {
    /// The value under `key`, decoded as the key's kind.
    fn load<V: Value>(&self, key: &Key<V>) -> Result<V::Read, KvError> {
        Ok(V::decode(self.get(key.as_str())?.as_deref()))
    }

    /// Values of `keys` in their order, in one batch read.
    fn load_many<V: Value>(&self, keys: &[Key<V>]) -> Result<Vec<V::Read>, KvError> {
        let texts: Vec<String> = keys.iter().map(|key| key.as_str().to_string()).collect();
        Ok(self.get_many(&texts)?.iter().map(|bytes| V::decode(bytes.as_deref())).collect())
    }

    /// Values of pairs of keys of two kinds, in one batch read.
    fn load_pairs<A: Value, B: Value>(&self, pairs: &[(Key<A>, Key<B>)]) -> Result<Vec<Pair<A, B>>, KvError> {
        let texts: Vec<String> = pairs.iter().flat_map(|(a, b)| [a.to_string(), b.to_string()]).collect();
        let values = self.get_many(&texts)?;
        Ok(values.chunks(2).map(|pair| (A::decode(pair[0].as_deref()), B::decode(pair[1].as_deref()))).collect())
    }

    /// Whether each of `keys` holds anything, readable or not, in one batch read.
    fn exist_many<V>(&self, keys: &[Key<V>]) -> Result<Vec<bool>, KvError> {
        let texts: Vec<String> = keys.iter().map(|key| key.as_str().to_string()).collect();
        Ok(self.get_many(&texts)?.iter().map(Option::is_some).collect())
    }

    fn exists<V>(&self, key: &Key<V>) -> Result<bool, KvError> {
        Ok(self.get(key.as_str())?.is_some())
    }

    fn save<V: Settable>(&self, key: &Key<V>, value: &V::Input) -> Result<(), KvError> {
        self.set(key.as_str(), &V::encode(value))
    }

    /// Adds `delta` to a counter and returns its new value.
    fn add_to(&self, key: &Key<Counter>, delta: i64) -> Result<i64, KvError> {
        self.increment(key.as_str(), delta)
    }

    fn remove<V>(&self, key: &Key<V>) -> Result<(), KvError> {
        self.delete(key.as_str())
    }
}

impl<K: Kv + ?Sized> TypedKv for K {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::JobId;
    use crate::keys;
    use crate::memory::MemoryKv;
    use crate::stats::StatsRecord;

    #[test]
    fn each_kind_reads_back_what_was_written() {
        let kv = MemoryKv::default();
        let stats = StatsRecord::new();
        kv.save(&keys::sweep_stats(), &stats).unwrap();
        assert_eq!(kv.load(&keys::sweep_stats()).unwrap(), Some(stats));
        kv.save(&keys::sweep_cursor(""), &1_700).unwrap();
        assert_eq!(kv.get("sweep:cursor").unwrap().as_deref(), Some(&b"1700"[..]), "decimal");
        assert_eq!(kv.load(&keys::sweep_cursor("")).unwrap(), Some(1_700));
        assert_eq!(kv.load(&keys::slot_done("", 3)).unwrap(), None, "a missing number is not 0");
        assert_eq!(kv.add_to(&keys::slot_count("", 3), 2).unwrap(), 2);
        assert_eq!(kv.load(&keys::slot_count("", 3)).unwrap(), 2);
        assert_eq!(kv.load(&keys::slot_count("", 4)).unwrap(), 0, "a missing counter is 0");
        kv.save(&keys::slot("", 3, 1), b"job_1").unwrap();
        assert_eq!(kv.load(&keys::slot("", 3, 1)).unwrap(), Some(b"job_1".to_vec()));
    }

    #[test]
    fn unreadable_records_and_batches_come_back_in_order() {
        let kv = MemoryKv::default();
        let (a, b) = (JobId::from_random(&[1; 16]), JobId::from_random(&[2; 16]));
        kv.set(&format!("job:{a}"), b"not json").unwrap();
        assert_eq!(kv.load(&keys::job(&a)).unwrap(), None);
        assert!(kv.exists(&keys::job(&a)).unwrap(), "there, though unreadable");
        kv.set("due:1:n", &7i64.to_le_bytes()).unwrap(); // SQLite's counter format
        kv.set("due:2:n", b"9").unwrap(); // Redis's
        kv.save(&keys::slot_done("", 2), &4).unwrap();
        let pairs = [1, 2].map(|b| (keys::slot_count("", b), keys::slot_done("", b)));
        assert_eq!(kv.load_pairs(&pairs).unwrap(), vec![(7, None), (9, Some(4))]);
        assert_eq!(kv.load_many(&[keys::slot_count("", 2), keys::slot_count("", 5)]).unwrap(), vec![9, 0]);
        assert_eq!(kv.exist_many(&[keys::job(&a), keys::job(&b)]).unwrap(), vec![true, false]);
    }
}
