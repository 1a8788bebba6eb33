//! Failures are reported, never swallowed into a silent degradation: a store error is an error,
//! a missing event body stops its fan-out visibly, an unusable signing key fails the attempt.

use super::{World, T0};
use crate::job::{JobRecord, State};
use crate::keyring::{KeyRecord, Secret};
use crate::keys;
use crate::memory::ScriptedTransport;
use crate::request::Incoming;
use crate::stored::Stored;
use crate::Config;
use futures::executor::block_on;

impl World {
    fn with_config(config: Config) -> Self {
        World {
            config: Config { api_token: crate::config::ApiToken::new("t"), ..config },
            ..World::new(ScriptedTransport::status(200))
        }
    }
    fn hub_subscribe(&self, secret: &str) -> Result<crate::engine::HubDone, crate::Error> {
        let form = format!(
            "hub.mode=subscribe&hub.callback=https%3A%2F%2Fsub.example%2Fcb&hub.topic=https%3A%2F%2Fpub.example%2Ffeed&hub.secret={secret}"
        );
        block_on(self.hookah().hub().handle(None, "http://hub.test/_hookah/hub", form.as_bytes()))
            .map(|outcome| outcome.done)
    }
    /// Job records stored (not their bodies or attempt details).
    fn jobs(&self) -> Vec<JobRecord> {
        let data = self.kv.data.borrow();
        data.iter().filter(|(k, _)| k.starts_with("job:")).filter_map(|(_, v)| JobRecord::from_bytes(v)).collect()
    }
}

#[test]
fn a_store_error_while_looking_up_a_websub_subscription_is_a_503_not_a_second_subscription() {
    let world = World::with_config(Config::default());
    assert_eq!(world.hub_subscribe("one"), Ok(crate::engine::HubDone::Verifying));
    let subscriptions = || world.kv.keys_with_prefix("sub:").len();
    assert_eq!(subscriptions(), 1);
    let stored_before = world.kv.data.borrow().len();

    *world.kv.failing_reads.borrow_mut() = Some("sub:".into());
    let error = world.hub_subscribe("two").unwrap_err();
    assert!(matches!(error, crate::Error::Storage(_)), "{error:?}");
    *world.kv.failing_reads.borrow_mut() = None;
    assert_eq!(subscriptions(), 1, "no duplicate subscription");
    assert_eq!(world.kv.data.borrow().len(), stored_before, "nothing stored half-way");
}

#[test]
fn a_missing_event_body_stops_the_fan_out_visibly_instead_of_sending_an_empty_body() {
    let world = World::with_config(Config { fanout_batch: 1, ..Config::default() });
    let hookah = world.hookah();
    world.open_channel("orders");
    world.subscribe("orders", "https://a.example/hook");
    world.subscribe("orders", "https://b.example/hook");
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let (event, _) = hookah.channels().publish("orders", "order.created", headers, br#"{"n":1}"#.to_vec()).unwrap();
    assert_eq!(event.matched, 1, "the first step of one subscription ran before the answer");

    world.kv.data.borrow_mut().remove(keys::event_body(&event.id).as_str());
    world.clock.advance(2_000);
    block_on(world.hookah().sweep()).unwrap();

    let stored = world.hookah().channels().find_event("orders", &event.id).unwrap();
    assert_eq!(stored.matched, 1, "{stored:?}");
    assert!(stored.fanned_out_at.is_some(), "the fan-out ended");
    assert!(stored.fanout_error.as_deref().unwrap().contains("body is missing"), "{stored:?}");
    let jobs = world.jobs();
    assert_eq!(jobs.len(), 1, "no job was made with an empty body in place of the event's");
    assert!(jobs.iter().all(|job| job.body_len == 7));
}

#[test]
fn an_unusable_signing_key_fails_the_attempt_instead_of_sending_it_unsigned() {
    let world = World::with_config(Config::default());
    let key = KeyRecord {
        v: 1,
        id: crate::ids::KeyId::from_random(&[7; crate::ids::ID_RANDOM_BYTES]),
        secret: Secret::new("whsec_not base64!".into()),
        created_at: T0,
        rotated_at: None,
        previous: None,
        turn: 0,
        turn_mark: Default::default(),
    };
    world.kv.data.borrow_mut().insert(keys::signing_key(&key.id).into(), key.to_bytes());
    let incoming = Incoming {
        method: "POST".into(),
        path_and_query: "/example.com/hook".into(),
        headers: vec![("authorization".into(), "Bearer t".into()), ("hookah-signing-key".into(), key.id.to_string())],
        body: b"{}".to_vec(),
    };
    let reply = block_on(world.hookah().handle(incoming));
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    block_on(world.hookah().follow_up(reply.follow_up));

    assert!(world.transport.sent.borrow().is_empty(), "nothing went out unsigned");
    let job = world.jobs().remove(0);
    assert!(matches!(job.state, State::Pending { .. }), "retried on schedule: {:?}", job.state);
    let message = job.attempts[0].message.as_deref().unwrap_or_default();
    assert!(message.contains(key.id.as_str()) && message.contains("unusable"), "{message}");
}
