//! The engine: accepting, attempting and sweeping jobs through the ports. Every decision it
//! carries out comes from the pure functions in `job::transition` and `delivery`.

mod accept;
mod attempt;
pub(crate) mod fence;
mod health;
mod hub;
mod keyring;
mod lists;
mod publish;
mod replay;
mod report;
pub(crate) mod slot_log;
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
pub use hub::{topic_channel, HubOutcome};
pub use keyring::KeyRequest;
pub use lists::{Page, LISTED_STATES};
pub use replay::{check_list_state, ReplayFilter, ReplayReport, MAX_REPLAY_BATCH};
pub use stats::MAX_BACKLOG_BUCKETS;
pub use subscriptions::{ChannelRequest, SubscriptionRequest};
pub use sweep::SweepReport;
pub use tokens::{Principal, TokenRequest};
pub use verify::digest_of;

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
    pub fn load_job(&self, id: &str) -> Result<Option<crate::job::JobRecord>, crate::ports::KvError> {
        self.kv.load(&crate::keys::job(id))
    }
}

#[cfg(test)]
mod tests;
