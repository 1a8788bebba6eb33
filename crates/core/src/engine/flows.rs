//! Flow control: carrying out a flow key's stored settings (`flows/`).
//!
//! A job's flow key is `JobRecord::flow_key`. A key without stored settings is limited as a
//! target host always was (`engine/targets.rs`, with the variables' defaults). This module holds
//! what every part of the engine asks of a flow: its record, how many of its jobs wait and are in
//! flight, and the timer slot that wakes it.

use super::slot_log::Item;
use super::targets::FLIGHT_EPOCH_MS;
use super::{timers, Hookah};
use crate::flows::{check_flow_key, FlowRecord};
use crate::keys::{self, Entry, TypedKv};
use crate::ports::{Kv, KvError, Transport};

/// A flow key, as the list of flows holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FlowName(pub(crate) String);

impl Item for FlowName {
    fn parse(text: &str) -> Option<Self> {
        check_flow_key(text).ok().map(|()| FlowName(text.to_string()))
    }
    fn text(&self) -> &str {
        &self.0
    }
}

/// How many of a flow's jobs wait in its queue, and how many of its attempts are in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub waiting: u64,
    pub in_flight: u64,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// The stored settings of flow `key`, if any.
    pub(crate) fn flow_record(&self, key: &str) -> Result<Option<FlowRecord>, KvError> {
        Ok(self.kv.load(&keys::flow(key))?.filter(|record| record.key == key))
    }

    /// How many jobs wait in `record`'s queue and how many attempts of its key are in flight
    /// (this epoch's count and the last one's, as `engine/targets.rs` counts them).
    pub(crate) fn flow_counts(&self, record: &FlowRecord) -> Result<FlowCounts, KvError> {
        let queued = self.kv.load(&keys::flow_wait_count(&record.key))?;
        let epoch = self.clock.now_ms() / FLIGHT_EPOCH_MS;
        let flights =
            [keys::target_flight(&record.key, epoch), keys::target_flight(&record.key, epoch.saturating_sub(1))];
        let in_flight = self.kv.load_many(&flights)?.into_iter().sum();
        Ok(FlowCounts { waiting: queued.saturating_sub(record.queue.released), in_flight })
    }

    /// A timer slot for flow `key` in the next bucket, for the caller's batched write: the sweep
    /// that reads it takes the flow's next step (releasing what may go now).
    pub(crate) fn flow_wakeup(&self, key: &str) -> Result<Vec<Entry>, KvError> {
        let now = self.clock.now_ms();
        timers::allocate(self.kv, &self.config.region, &[(keys::timer_bucket(now, now), &keys::flow_timer_id(key))])
    }
}
