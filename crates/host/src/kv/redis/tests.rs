//! The Redis store against a real `redis-server`, one quirk of Spin's a test.

use super::*;
use crate::test_redis::TestDatabase;

/// A store on an empty database of its own, and a plain connection to look at it.
async fn store() -> (RedisKv, redis::aio::MultiplexedConnection, TestDatabase) {
    let db = tokio::task::spawn_blocking(TestDatabase::claim).await.unwrap().unwrap();
    let kv = RedisKv::new(db.url()).unwrap();
    assert_eq!(kv.open().await, Ok(()));
    let raw = Client::open(db.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    (kv, raw, db)
}

fn pair(key: &str, value: &str) -> (String, Vec<u8>) {
    (key.to_string(), value.as_bytes().to_vec())
}

#[tokio::test]
async fn plain_operations() {
    let (kv, _raw, _db) = store().await;
    assert_eq!(kv.get("k").await, Ok(None));
    assert_eq!(kv.exists("k").await, Ok(false));
    kv.set("k", b"v".to_vec()).await.unwrap();
    assert_eq!(kv.get("k").await, Ok(Some(b"v".to_vec())));
    assert_eq!(kv.exists("k").await, Ok(true));
    kv.delete("k").await.unwrap();
    kv.delete("k").await.unwrap();
    assert_eq!(kv.get("k").await, Ok(None));
}

#[tokio::test]
async fn get_keys_lists_the_whole_database() {
    let (kv, mut raw, _db) = store().await;
    kv.set("mine", b"1".to_vec()).await.unwrap();
    // Written by anyone else (another label, another app): listed all the same.
    raw.set::<_, _, ()>("someone-elses", "2").await.unwrap();
    let mut keys = kv.get_keys().await.unwrap();
    keys.sort();
    assert_eq!(keys, ["mine", "someone-elses"]);
}

#[tokio::test]
async fn get_many_of_two_or_more_keys_is_refused_by_redis() {
    let (kv, _raw, _db) = store().await;
    kv.set_many(vec![pair("a", "1"), pair("b", "2")]).await.unwrap();
    let err = kv.get_many(vec!["a".into(), "b".into()]).await.unwrap().unwrap_err();
    assert!(err.0.contains("wrong number of arguments for 'keys' command"), "{err}");
    let err = kv.get_many(vec!["a".into(), "missing".into(), "b".into()]).await.unwrap().unwrap_err();
    assert!(err.0.contains("wrong number of arguments for 'keys' command"), "{err}");
}

#[tokio::test]
async fn get_many_of_one_present_key_traps_like_spins_panic() {
    let (kv, _raw, _db) = store().await;
    kv.set("a", b"1".to_vec()).await.unwrap();
    let trap = kv.get_many(vec!["a".into()]).await.unwrap_err();
    assert!(format!("{trap:#}").contains("panics"), "{trap:#}");
}

#[tokio::test]
async fn get_many_of_one_key_is_a_glob_whose_matches_are_paired() {
    let (kv, _raw, _db) = store().await;
    assert_eq!(kv.get_many(vec!["missing".into()]).await.unwrap(), Ok(vec![]));
    kv.set_many(vec![pair("job:1", "one"), pair("job:2", "two")]).await.unwrap();
    // Two key names come back and are read as one (key, value) pair: no value is ever read.
    let got = kv.get_many(vec!["job:*".into()]).await.unwrap().unwrap();
    assert_eq!(got.len(), 1);
    let (first, second) = &got[0];
    let mut names = [first.clone(), String::from_utf8(second.clone().unwrap()).unwrap()];
    names.sort();
    assert_eq!(names, ["job:1", "job:2"]);
}

#[tokio::test]
async fn set_many_and_delete_many_write_every_key() {
    let (kv, mut raw, _db) = store().await;
    kv.set_many(vec![pair("a", "1"), pair("b", "2"), pair("c", "3")]).await.unwrap();
    let values: Vec<Option<String>> = raw.mget(&["a", "b", "c"]).await.unwrap();
    assert_eq!(values, [Some("1".into()), Some("2".into()), Some("3".into())]);
    kv.delete_many(vec!["a".into(), "missing".into(), "c".into()]).await.unwrap();
    let values: Vec<Option<String>> = raw.mget(&["a", "b", "c"]).await.unwrap();
    assert_eq!(values, [None, Some("2".into()), None]);
}

#[tokio::test]
async fn increment_is_incrby_on_ascii_decimal() {
    let (kv, _raw, _db) = store().await;
    assert_eq!(kv.increment("n", 1).await, Ok(1));
    assert_eq!(kv.increment("n", 41).await, Ok(42));
    assert_eq!(kv.increment("n", -50).await, Ok(-8));
    assert_eq!(kv.get("n").await, Ok(Some(b"-8".to_vec())));
    kv.set("m", b"100".to_vec()).await.unwrap();
    assert_eq!(kv.increment("m", 1).await, Ok(101));
}

#[tokio::test]
async fn increment_of_a_non_integer_is_an_error() {
    let (kv, _raw, _db) = store().await;
    kv.set("s", b"hello".to_vec()).await.unwrap();
    let err = kv.increment("s", 1).await.unwrap_err();
    assert!(err.0.contains("not an integer"), "{err}");
    assert_eq!(kv.get("s").await, Ok(Some(b"hello".to_vec())));
    // An 8-byte little-endian counter, as Spin's SQLite store writes, is not one either.
    kv.set("le", 7i64.to_le_bytes().to_vec()).await.unwrap();
    assert!(kv.increment("le", 1).await.is_err());
}

#[tokio::test]
async fn a_swap_without_conflict_writes_yet_reports_cas_failed() {
    let (kv, _raw, _db) = store().await;
    kv.set("c", b"old".to_vec()).await.unwrap();
    let mut cas = kv.new_cas().await.unwrap();
    assert_eq!(cas_current(&mut cas, "c").await, Ok(Some(b"old".to_vec())));
    assert_eq!(cas_swap(&mut cas, "c", b"new".to_vec()).await, Swapped::CasFailed);
    assert_eq!(kv.get("c").await, Ok(Some(b"new".to_vec())));
}

#[tokio::test]
async fn a_swap_after_a_conflicting_write_reports_cas_failed_and_keeps_the_other_write() {
    let (kv, _raw, _db) = store().await;
    kv.set("c", b"old".to_vec()).await.unwrap();
    let mut cas = kv.new_cas().await.unwrap();
    assert_eq!(cas_current(&mut cas, "c").await, Ok(Some(b"old".to_vec())));
    kv.set("c", b"theirs".to_vec()).await.unwrap();
    assert_eq!(cas_swap(&mut cas, "c", b"mine".to_vec()).await, Swapped::CasFailed);
    assert_eq!(kv.get("c").await, Ok(Some(b"theirs".to_vec())));
}

#[tokio::test]
async fn a_swap_on_a_missing_key_writes_and_reports_cas_failed() {
    let (kv, _raw, _db) = store().await;
    let mut cas = kv.new_cas().await.unwrap();
    assert_eq!(cas_current(&mut cas, "fresh").await, Ok(None));
    assert_eq!(cas_swap(&mut cas, "fresh", b"1".to_vec()).await, Swapped::CasFailed);
    assert_eq!(kv.get("fresh").await, Ok(Some(b"1".to_vec())));
}

#[tokio::test]
async fn every_cas_has_a_connection_of_its_own() {
    let (kv, _raw, _db) = store().await;
    async fn client_id(conn: &mut ConnectionManager) -> i64 {
        redis::cmd("CLIENT").arg("ID").query_async(conn).await.unwrap()
    }
    let mut shared = kv.connection().await.unwrap();
    let (mut first, mut second) = (kv.new_cas().await.unwrap(), kv.new_cas().await.unwrap());
    let ids = [client_id(&mut shared).await, client_id(&mut first).await, client_id(&mut second).await];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");
    // The store's own operations share one connection.
    assert_eq!(client_id(&mut kv.connection().await.unwrap()).await, ids[0]);
}

/// Only the URL is checked at startup. (An unreachable server is not tested:
/// the client crate's connection manager, as Spin 4.0.2 configures it, retries
/// with backoff for minutes before the open fails.)
#[test]
fn a_bad_url_is_refused_at_startup() {
    assert!(RedisKv::new("http://127.0.0.1:6379").is_err());
    assert!(RedisKv::new("not a url").is_err());
    assert!(RedisKv::new("redis://127.0.0.1:1/0").is_ok());
}
