//! Deleted keys and subscriptions free their place: limits count live items, and reads follow
//! what is live, not what ever existed.

use super::{World, T0};
use crate::engine::slot_log::SlotLog;
use crate::engine::{ChannelRequest, KeyRequest, Principal, SubscriptionRequest};
use crate::keyring::MAX_KEYS;
use crate::keys;
use crate::memory::ScriptedTransport;
use futures::executor::block_on;

#[test]
fn deleted_signing_keys_free_their_place() {
    let world = World::new(ScriptedTransport::status(200));
    let hookah = world.hookah();
    let keyring = hookah.keyring();
    for _ in 0..=MAX_KEYS {
        let (id, _) = world.create_key(KeyRequest::default());
        keyring.delete_key(&id).unwrap();
    }
    let created = keyring.create_key(KeyRequest::default()).expect("1,001 keys were deleted: room for one more");
    assert!(created.is_default, "with the default deleted, a new key takes its place");
    let listed = keyring.list_keys().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].record.id, created.record.id);
}

#[test]
fn the_key_limit_counts_live_keys() {
    let world = World::new(ScriptedTransport::status(200));
    let hookah = world.hookah();
    let keyring = hookah.keyring();
    let ids: Vec<_> = (0..MAX_KEYS).map(|_| world.create_key(KeyRequest::default()).0).collect();
    let refused = keyring.create_key(KeyRequest::default()).unwrap_err();
    assert!(matches!(refused, crate::Error::Conflict { code: "too_many_keys", .. }), "{refused:?}");
    keyring.delete_key(&ids[7]).unwrap();
    keyring.create_key(KeyRequest::default()).unwrap();
    assert_eq!(keyring.list_keys().unwrap().len(), MAX_KEYS as usize);
    // A second delete of the same key neither succeeds nor frees another place.
    assert!(matches!(keyring.delete_key(&ids[7]), Err(crate::Error::NotFound(_))));
    assert!(keyring.create_key(KeyRequest::default()).is_err());
}

#[test]
fn fan_out_after_many_deleted_subscriptions_reads_about_the_live_ones() {
    let world = World::new(ScriptedTransport::status(200));
    let hookah = world.hookah();
    hookah.channels().set_channel("c", ChannelRequest { verify_intent: false }).unwrap();
    let mut ids = Vec::new();
    for i in 0..1_000 {
        let request = SubscriptionRequest { url: Some(format!("https://s{i}.example/")), ..Default::default() };
        let (view, _) = hookah.channels().create_subscription(&Principal::App, "c", request).unwrap();
        ids.push(view.record.id.to_string());
    }
    let live: Vec<&String> = ids.iter().step_by(100).collect();
    for id in ids.iter().filter(|id| !live.contains(id)) {
        hookah.channels().delete_subscription(&Principal::App, "c", id).unwrap();
    }
    // Compaction works a minute behind the writers: publishing and listing carry it on.
    let log = SlotLog::new(keys::channel_subs("c"));
    for _ in 0..20 {
        if !log.bounds(&world.kv).unwrap().needs_tidy() {
            break;
        }
        world.clock.advance(61_000);
        for _ in 0..10 {
            hookah.channels().list_subscriptions(&Principal::App, "c", 10, None).unwrap();
        }
    }
    assert!(!log.bounds(&world.kv).unwrap().needs_tidy(), "{:?}", log.bounds(&world.kv));

    let reads = world.kv.reads.get();
    let (event, immediate) = hookah.channels().publish("c", "a.b", vec![], b"{}".to_vec()).unwrap();
    let cost = world.kv.reads.get() - reads;
    assert_eq!((event.matched, immediate.len()), (10, 10));
    assert!(event.fanned_out_at.is_some(), "one step covers the live subscriptions");
    assert!(cost <= 4 * 10 + 2 * 64 + 10, "{cost} reads to fan out to 10 live subscriptions");
    let page = hookah.channels().list_subscriptions(&Principal::App, "c", 50, None).unwrap();
    assert_eq!(page.items.len(), 10);
    assert!(world.clock.0.get() > T0);
}

#[test]
fn a_fan_out_under_way_reaches_subscriptions_compaction_moved() {
    let mut world = World::new(ScriptedTransport::status(200));
    world.config.fanout_batch = 100;
    let hookah = world.hookah();
    hookah.channels().set_channel("c", ChannelRequest { verify_intent: false }).unwrap();
    let mut ids = Vec::new();
    for i in 0..400 {
        let request = SubscriptionRequest { url: Some(format!("https://s{i}.example/")), ..Default::default() };
        ids.push(hookah.channels().create_subscription(&Principal::App, "c", request).unwrap().0.record.id.to_string());
    }
    // Most of the bottom dies; the survivors there will be moved to the top.
    for id in ids[..300].iter().filter(|id| !id.ends_with('0')) {
        hookah.channels().delete_subscription(&Principal::App, "c", id).unwrap();
    }
    let (event, immediate) = hookah.channels().publish("c", "a.b", vec![], b"{}".to_vec()).unwrap();
    assert!(event.fanned_out_at.is_none(), "the fan-out goes on in sweeps");
    block_on(hookah.follow_up(crate::api::FollowUp::AttemptMany(immediate)));
    // Compaction raises the floor past the event's cursor before its next step.
    world.clock.advance(61_000);
    for _ in 0..10 {
        hookah.channels().list_subscriptions(&Principal::App, "c", 10, None).unwrap();
    }
    let log = SlotLog::new(keys::channel_subs("c"));
    assert!(log.bounds(&world.kv).unwrap().meta.floor > event.cursor, "{:?}", log.bounds(&world.kv));
    // A subscription born after the publish must not get the event.
    let late = SubscriptionRequest { url: Some("https://late.example/".into()), ..Default::default() };
    hookah.channels().create_subscription(&Principal::App, "c", late).unwrap();
    world.sweep_each_second(20);
    let urls = world.urls_sent();
    let expected = ids.iter().enumerate().filter(|(i, id)| *i >= 300 || id.ends_with('0')).count();
    assert_eq!(urls.len(), expected, "every live subscription once");
    assert_eq!(world.transport.sent.borrow().len(), expected);
    assert!(!urls.iter().any(|url| url == "https://late.example/"));
}
