//! The slot log on the in-memory store. An item is live while `rec:{id}` exists.

use super::tidy::TIDY_SETTLE_MS;
use super::{Direction, Item, SlotLog};
use crate::memory::MemoryKv;
use crate::ports::{Kv, KvError};

const T0: u64 = 1_700_000_000_000;

fn log() -> SlotLog<String> {
    SlotLog::new(crate::keys::test_log("t"))
}

/// Plain names as items, so the cases read simply.
impl Item for String {
    fn parse(text: &str) -> Option<Self> {
        (!text.is_empty()).then(|| text.to_string())
    }
    fn text(&self) -> &str {
        self
    }
}

fn owned(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

fn load(kv: &MemoryKv, ids: &[String]) -> Result<Vec<Option<String>>, KvError> {
    let records = kv.get_many(&ids.iter().map(|id| format!("rec:{id}")).collect::<Vec<_>>())?;
    Ok(ids.iter().zip(records).map(|(id, record)| record.map(|_| id.clone())).collect())
}

/// Appends and writes items with their records, as a creator does.
fn add(kv: &MemoryKv, ids: &[&str], now: u64) {
    let mut entries = log().append(kv, &owned(ids), now).unwrap().entries;
    entries.extend(ids.iter().map(|id| (format!("rec:{id}"), b"r".to_vec())));
    kv.set_many(entries).unwrap();
}

fn remove(kv: &MemoryKv, id: &str) {
    kv.delete(&format!("rec:{id}")).unwrap();
    log().removed(kv, 1).unwrap();
}

/// Every live id, oldest first, however many pages that takes.
fn all(kv: &MemoryKv) -> Vec<String> {
    let bounds = log().bounds(kv).unwrap();
    let (mut ids, mut from) = (Vec::new(), None);
    loop {
        let page = log().page(kv, &bounds, Direction::OldestFirst, from, 10, |ids| load(kv, ids)).unwrap();
        ids.extend(page.items.into_iter().map(|(_, id)| id));
        match page.next {
            Some(next) => from = Some(next),
            None => return ids,
        }
    }
}

/// One compaction step at `now`.
fn tidy(kv: &MemoryKv, now: u64) -> bool {
    let bounds = log().bounds(kv).unwrap();
    let is_live = |ids: &[String]| Ok(load(kv, ids)?.iter().map(Option::is_some).collect());
    log().tidy(kv, &bounds, &|| now, is_live).unwrap()
}

/// Steps until compaction has nothing left to do, moving time on a mark at a time.
fn tidy_fully(kv: &MemoryKv, mut now: u64) -> u64 {
    for _ in 0..100 {
        now += TIDY_SETTLE_MS;
        while tidy(kv, now) {}
        if !log().bounds(kv).unwrap().needs_tidy() {
            return now;
        }
    }
    panic!("compaction never settled: {:?}", log().bounds(kv).unwrap());
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("id{i}")).collect()
}

#[test]
fn one_increment_appends_many_and_pages_go_both_ways() {
    let kv = MemoryKv::default();
    let ids = names(5);
    let commits = kv.commits.get();
    let appended = log().append(&kv, &ids, T0).unwrap();
    assert_eq!(kv.commits.get() - commits, 2, "one increment for the slots, one for the live count");
    assert_eq!(appended.entries.len(), 5);
    let mut entries = appended.entries;
    entries.extend(ids.iter().map(|id| (format!("rec:{id}"), b"r".to_vec())));
    kv.set_many(entries).unwrap();

    let bounds = log().bounds(&kv).unwrap();
    assert_eq!((bounds.count, bounds.live), (5, 5));
    let newest = log().page(&kv, &bounds, Direction::NewestFirst, None, 2, |ids| load(&kv, ids)).unwrap();
    let got: Vec<&str> = newest.items.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!((got, newest.next), (vec!["id4", "id3"], Some(3)));
    let rest = log().page(&kv, &bounds, Direction::NewestFirst, newest.next, 5, |ids| load(&kv, ids)).unwrap();
    assert_eq!(rest.items.len(), 3);
    assert_eq!(rest.next, None);
    assert_eq!(all(&kv), ids);
}

#[test]
fn removed_items_and_unwritten_slots_are_skipped() {
    let kv = MemoryKv::default();
    add(&kv, &["a", "b", "c"], T0);
    remove(&kv, "b");
    // Allocated, never written: a hole.
    log().append(&kv, &owned(&["lost"]), T0).unwrap();
    add(&kv, &["d"], T0);
    assert_eq!(all(&kv), ["a", "c", "d"]);
    assert_eq!(log().bounds(&kv).unwrap().live, 4, "the lost item counts until abandoned");
    log().abandon(&kv, 1).unwrap();
    assert_eq!(log().bounds(&kv).unwrap().live, 3);
}

#[test]
fn a_live_limit_refuses_without_allocating() {
    let kv = MemoryKv::default();
    assert!(log().append_within(&kv, &owned(&["a", "b"]), T0, 2).unwrap().is_some());
    assert!(log().append_within(&kv, &owned(&["c"]), T0, 2).unwrap().is_none());
    let bounds = log().bounds(&kv).unwrap();
    assert_eq!((bounds.count, bounds.live), (2, 2));
    log().removed(&kv, 1).unwrap();
    assert!(log().append_within(&kv, &owned(&["c"]), T0, 2).unwrap().is_some());
}

#[test]
fn duplicate_entries_are_read_once() {
    let kv = MemoryKv::default();
    add(&kv, &["a", "b"], T0);
    // The same id at a second slot, as a crash between two writes could leave it.
    let again = log().append(&kv, &owned(&["a"]), T0).unwrap();
    kv.set_many(again.entries).unwrap();
    assert_eq!(all(&kv), ["a", "b"]);
}

#[test]
fn compaction_keeps_live_items_and_drops_history() {
    let kv = MemoryKv::default();
    let ids = names(1_000);
    for chunk in ids.chunks(100) {
        add(&kv, &chunk.iter().map(String::as_str).collect::<Vec<_>>(), T0);
    }
    let survivors: Vec<String> = ids.iter().step_by(100).cloned().collect();
    for id in ids.iter().filter(|id| !survivors.contains(id)) {
        remove(&kv, id);
    }
    // The first step only takes the mark; nothing below it moves for a minute.
    assert!(tidy(&kv, T0));
    assert!(!tidy(&kv, T0 + TIDY_SETTLE_MS - 1));
    assert_eq!(log().bounds(&kv).unwrap().meta.floor, 0);
    let now = tidy_fully(&kv, T0);

    let mut listed = all(&kv);
    listed.sort();
    let mut expected = survivors.clone();
    expected.sort();
    assert_eq!(listed, expected);
    let bounds = log().bounds(&kv).unwrap();
    assert!(bounds.count - bounds.meta.floor <= 2 * 10 + 64, "{bounds:?}");
    // A mark later the entries below the floor are gone too.
    tidy_fully(&kv, now + TIDY_SETTLE_MS);
    let stored = kv.keys_with_prefix("t:").len();
    assert!(stored < 100, "{stored} keys left");
}

#[test]
fn reading_costs_follow_live_items_after_many_deletions() {
    let kv = MemoryKv::default();
    let ids = names(2_000);
    for id in &ids {
        add(&kv, &[id.as_str()], T0);
    }
    for id in &ids[..1_990] {
        remove(&kv, id);
    }
    tidy(&kv, T0);
    tidy_fully(&kv, T0);
    let reads = kv.reads.get();
    assert_eq!(all(&kv).len(), 10);
    let cost = kv.reads.get() - reads;
    assert!(cost <= 3 + 2 * (2 * 10 + 64), "{cost} reads for 10 live items");
}

#[test]
fn a_slot_allocated_but_not_yet_written_survives_compaction() {
    let kv = MemoryKv::default();
    let ids = names(300);
    for id in &ids {
        add(&kv, &[id.as_str()], T0);
    }
    for id in &ids {
        remove(&kv, id);
    }
    assert!(tidy(&kv, T0), "takes the mark");
    // An appender is handed a slot just before the mark is a minute old, and is slow to write.
    let slow = log().append(&kv, &owned(&["slow"]), T0 + TIDY_SETTLE_MS - 1).unwrap();
    let mut now = T0 + TIDY_SETTLE_MS;
    while tidy(&kv, now) {}
    kv.set_many(slow.entries).unwrap();
    kv.set("rec:slow", b"r").unwrap();
    assert_eq!(all(&kv), ["slow"]);
    // Later steps move it, and never lose it.
    for _ in 0..5 {
        now += TIDY_SETTLE_MS;
        while tidy(&kv, now) {}
        assert_eq!(all(&kv), ["slow"]);
    }
}
