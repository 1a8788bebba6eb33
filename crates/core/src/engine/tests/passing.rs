//! Sweeps with no cron trigger: an invocation sweeps after its answer when no sweep has started
//! this second; the sweep token's route goes through the same gate.

use super::{Answer, Answered, World};
use crate::config::ApiToken;
use crate::job::State;
use crate::keys;
use crate::request::Incoming;
use crate::Config;
use futures::executor::block_on;

impl World {
    /// A request as the HTTP component makes it: answer, follow-up, then a sweep in passing.
    /// Returns the answer and the log lines the invocation printed.
    fn call_in_passing(&self, method: &str, path: &str) -> (Answered, Vec<String>) {
        let incoming = Incoming { method: method.into(), path_and_query: path.into(), headers: vec![], body: vec![] };
        let started = self.clock.0.get();
        let reply = block_on(self.hookah().handle(incoming));
        let answered = Answered::of(&reply);
        let lines = block_on(self.hookah().after_answer(reply.follow_up, reply.status, started));
        (answered, lines)
    }
    fn gates(&self) -> usize {
        self.kv.keys_with_prefix("due:").iter().filter(|key| key.ends_with(":gate")).count()
    }
}

fn swept(lines: &[String]) -> bool {
    lines.iter().any(|line| line.contains("\"sweep\""))
}

const SWEEP_TOKEN: &str = "sweep-0123456789abcdef";

fn world() -> World {
    World::receiving(Config { sweep_token: ApiToken::new(SWEEP_TOKEN), ..Config::default() })
}

#[test]
fn a_retry_is_made_by_the_next_request_after_it_is_due_without_any_cron_sweep() {
    let world = world();
    world.answer("http://example.com/", Answer::Status(500));
    let (id, follow_up) = world.submit(&[]);
    block_on(world.hookah().follow_up(follow_up));
    world.answer("http://example.com/", Answer::Status(200));
    world.clock.advance(3_000);
    world.call_in_passing("GET", "/_hookah/health");
    assert_eq!(world.sent_to("http://example.com/").len(), 1, "not due yet: the 5 s retry waits");

    world.clock.advance(3_000);
    let (answer, lines) = world.call_in_passing("GET", "/_hookah/health");
    assert_eq!(answer.status, 200);
    assert!(swept(&lines), "{lines:?}");
    assert_eq!(world.sent_to("http://example.com/").len(), 2);
    assert!(matches!(world.job(&id).unwrap().state, State::Delivered { .. }));
}

#[test]
fn in_one_second_only_the_first_invocation_sweeps_and_the_others_pay_one_read() {
    let world = world();
    let (_, lines) = world.call_in_passing("GET", "/_hookah/health");
    assert!(swept(&lines));
    let (reads, commits) = (world.kv.reads.get(), world.kv.commits.get());
    world.kv.reads.set(0);
    let before = world.kv.commits.get();
    let (_, lines) = world.call_in_passing("GET", "/_hookah/openapi.json");
    assert!(!swept(&lines));
    assert_eq!(
        (world.kv.reads.get(), world.kv.commits.get() - before),
        (1, 0),
        "after {reads} reads, {commits} commits"
    );

    world.clock.advance(1_000);
    assert!(swept(&world.call_in_passing("GET", "/_hookah/openapi.json").1), "a new second, a new sweep");
}

#[test]
fn a_cron_sweep_counts_the_gate_so_requests_in_its_second_leave_sweeping_to_it() {
    let world = world();
    block_on(world.hookah().scheduled_sweep()).unwrap();
    assert!(!swept(&world.call_in_passing("GET", "/_hookah/health").1));
}

#[test]
fn sweeps_in_passing_can_be_turned_off() {
    let world = World::receiving(Config { sweep_in_passing: false, ..Config::default() });
    assert!(!swept(&world.call_in_passing("GET", "/_hookah/health").1));
    assert_eq!(world.gates(), 0);
}

#[test]
fn a_sweep_in_passing_fits_what_is_left_of_the_request_budget() {
    // Defaults: request_budget 25 s, timeout 15 s, sweep_budget 4 s, 1 s kept for recording.
    let world = world();
    let hookah = world.hookah();
    for (elapsed, budget) in [(0, Some(4_000)), (6_000, Some(3_000)), (8_700, Some(300)), (8_800, None), (30_000, None)]
    {
        assert_eq!(hookah.passing_budget(elapsed), budget, "after {elapsed} ms");
    }
    let (_, lines) = world.call_in_passing("GET", "/_hookah/health");
    assert!(swept(&lines));
    world.clock.advance(1_000);
    let started = world.clock.0.get() - 20_000;
    let reply = block_on(world.hookah().handle(Incoming {
        method: "GET".into(),
        path_and_query: "/_hookah/health".into(),
        headers: vec![],
        body: vec![],
    }));
    let lines = block_on(world.hookah().after_answer(reply.follow_up, reply.status, started));
    assert!(!swept(&lines), "20 s into the invocation there is no time for a sweep");
}

#[test]
fn the_sweep_token_route_sweeps_at_most_once_a_second_and_only_with_its_token() {
    let world = world();
    let path = format!("/_hookah/v1/sweep/{SWEEP_TOKEN}");
    let (answer, lines) = world.call_in_passing("GET", &path);
    assert_eq!((answer.status, answer.json["sweep"].as_str()), (202, Some("started")));
    assert!(swept(&lines), "the sweep runs after the answer");
    let (answer, lines) = world.call_in_passing("POST", &path);
    assert_eq!((answer.status, answer.json["sweep"].as_str()), (200, Some("skipped")));
    assert!(!swept(&lines));
    world.clock.advance(1_000);
    assert_eq!(world.call_in_passing("POST", &path).0.status, 202);
    assert_eq!(world.call_in_passing("DELETE", &path).0.status, 405);
}

#[test]
fn a_wrong_or_missing_sweep_token_is_a_401_and_does_no_work() {
    let world = world();
    let gates = world.gates();
    for path in [
        "/_hookah/v1/sweep/",
        "/_hookah/v1/sweep/wrong",
        "/_hookah/v1/sweep/t",
        "/_hookah/v1/sweep/sweep-0123456789abcdeF",
    ] {
        let before = (world.kv.reads.get(), world.kv.commits.get());
        let incoming = Incoming { method: "POST".into(), path_and_query: path.into(), headers: vec![], body: vec![] };
        let reply = block_on(world.hookah().handle(incoming));
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(Answered::of(&reply).code(), "unauthorized");
        assert!(matches!(reply.follow_up, crate::api::FollowUp::Nothing));
        assert_eq!((world.kv.reads.get(), world.kv.commits.get()), before, "{path}: no store work");
    }
    assert_eq!(world.gates(), gates);
}

#[test]
fn the_sweep_token_opens_nothing_else_and_the_route_is_absent_without_one() {
    let world = world();
    let bearer = format!("Bearer {SWEEP_TOKEN}");
    let answer = world.call("POST", "/_hookah/v1/sweep", &[("authorization", &bearer)], b"");
    assert_eq!(answer.status, 401);
    assert_eq!(world.call("GET", "/_hookah/v1/stats", &[("authorization", &bearer)], b"").status, 401);
    // The API token in the path is no sweep token.
    assert_eq!(world.call_in_passing("GET", "/_hookah/v1/sweep/t").0.status, 401);

    let without = World::receiving(Config::default());
    let (answer, _) = without.call_in_passing("GET", &format!("/_hookah/v1/sweep/{SWEEP_TOKEN}"));
    assert_eq!((answer.status, answer.code()), (404, "not_found"));
}

#[test]
fn an_error_answer_sweeps_nothing() {
    let world = world();
    let (answer, lines) = world.call_in_passing("GET", "/_hookah/v1/stats");
    assert_eq!(answer.status, 401);
    assert!(!swept(&lines));
    assert!(world.kv.data.borrow().is_empty(), "bad input stores nothing, not even a gate");
}

#[test]
fn gates_go_with_their_buckets() {
    let world = world();
    world.call_in_passing("GET", "/_hookah/health");
    assert_eq!(world.gates(), 1);
    let first = world.kv.keys_with_prefix("due:").into_iter().find(|key| key.ends_with(":gate")).unwrap();
    for _ in 0..40 {
        world.clock.advance(1_000);
        world.call_in_passing("GET", "/_hookah/health");
    }
    assert!(world.kv.data.borrow().get(&first).is_none(), "{first} outlived its bucket");
    assert!(world.gates() <= 32, "{} gates: only the unsettled seconds' stay", world.gates());
    assert_eq!(keys::sweep_gate("", 7).as_str(), "due:7:gate");
}
