//! The engine: accepting, attempting and sweeping jobs through the ports. Every decision it
//! carries out comes from the pure functions in `job::transition` and `delivery`.
//!
//! `Hookah` hands out one service a noun, each a borrow of it defined in the module of its noun:
//!
//! - `hookah.keyring()`: `Keyring`, `keyring.rs`;
//! - `hookah.channels()`: `Channels` (channel settings, subscriptions, publishing and events,
//!   scoped tokens), defined in `subscriptions.rs`, with methods in `sub_list.rs`, `publish.rs`,
//!   `event_batch.rs` and `tokens.rs`;
//! - `hookah.jobs()`: `Jobs`, `jobs.rs` (find and list; retry, cancel and bulk replay in
//!   `replay.rs`; the receivers' delivery check in `verify.rs`);
//! - `hookah.hub()`: `Hub`, `hub.rs`;
//! - `hookah.flows()`: `Flows`, `flow_settings.rs` (a flow's stored settings).
//!
//! `Hookah` itself keeps `handle`, `follow_up`, `sweep`, accepting, attempting, the stats reads,
//! and the `pub(crate)` helpers these share. Records that several writers change are replaced
//! through fenced turns (`fence.rs`), never compare-and-swap.

mod accept;
mod attempt;
mod batch;
mod channel_list;
mod event_batch;
pub(crate) mod fence;
mod flow_settings;
mod flows;
mod health;
mod hub;
mod jobs;
mod keyring;
mod lists;
mod outcome;
mod publish;
mod recent;
mod regions;
mod replay;
mod report;
mod room;
pub(crate) mod slot_log;
mod slot_writes;
mod stats;
mod sub_list;
mod subscriptions;
mod sweep;
mod targets;
mod timers;
mod tokens;
mod verify;

pub(crate) use accept::IdempotencyRecord;
pub use accept::{Accepted, IDEMPOTENCY_TTL_MS};
pub use attempt::{outbound_request, AttemptOptions, Attempted, Held, USER_AGENT};
pub(crate) use channel_list::ChannelName;
pub use channel_list::{ChannelPage, ListedChannel};
pub use event_batch::PublishedBatch;
pub use flow_settings::{FlowPage, FlowState, Flows, StoredFlow, MAX_FLOW_STATS};
pub use flows::FlowCounts;
pub(crate) use flows::FlowName;
pub use hub::{topic_channel, HubDone, HubOutcome};
pub(crate) use keyring::key_id;
pub use keyring::{KeyRequest, KeyState};
pub use lists::{Page, LISTED_STATES};
pub(crate) use publish::event_id;
pub use replay::{check_list_state, ReplayFilter, ReplayReport, MAX_REPLAY_BATCH};
pub use stats::MAX_BACKLOG_BUCKETS;
pub use sub_list::SubscriptionPage;
pub use subscriptions::{ChannelRequest, NewSubscription, RotatedSubscription, SubscriptionRequest};
pub use sweep::SweepReport;
pub(crate) use tokens::token_id;
pub use tokens::{NewToken, Principal, TokenRequest};
pub use verify::digest_of;

// The services `Hookah` hands out, one a noun.
pub use hub::Hub;
pub use jobs::Jobs;
pub use keyring::Keyring;
pub use subscriptions::Channels;

use crate::config::Config;
use crate::keys::TypedKv;
use crate::ports::{Clock, Entropy, Kv, Transport};

/// Hookah bound to one invocation's ports.
pub struct Hookah<'a, K, T> {
    pub config: &'a Config,
    pub kv: &'a K,
    pub transport: &'a T,
    pub clock: &'a dyn Clock,
    pub entropy: &'a dyn Entropy,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Reads a job record; `None` if absent or unreadable.
    pub(crate) fn load_job(
        &self,
        id: &crate::ids::JobId,
    ) -> Result<Option<crate::job::JobRecord>, crate::ports::KvError> {
        self.kv.load(&crate::keys::job(id))
    }
}

#[cfg(test)]
mod tests;
