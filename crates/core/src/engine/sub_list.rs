//! A channel's subscription list (a slot log): listing a page, and the loading and compaction
//! that creating, deleting and fanning out share.

use super::slot_log::{Bounds, Direction, SlotLog};
use super::tokens::Principal;
use super::{Channels, Hookah};
use crate::channels::grammar::check_public_channel;
use crate::channels::record::SubscriptionRecord;
use crate::error::Error;
use crate::ids::SubscriptionId;
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, KvError, Transport};

pub(crate) fn subscription_log(channel: &str) -> SlotLog<SubscriptionId> {
    SlotLog::new(keys::channel_subs(channel))
}

/// One page of a channel's subscriptions, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionPage {
    pub items: Vec<SubscriptionRecord>,
    /// The slot the next page starts at.
    pub next_cursor: Option<u64>,
}

impl<K: Kv, T: Transport> Channels<'_, K, T> {
    /// Newest first; `cursor` is the slot to start at.
    pub fn list_subscriptions(
        &self,
        principal: &Principal,
        channel: &str,
        limit: usize,
        cursor: Option<u64>,
    ) -> Result<SubscriptionPage, Error> {
        check_public_channel(channel)?;
        principal.check_channel(channel, false)?;
        let log = subscription_log(channel);
        let bounds = log.bounds(self.0.kv)?;
        let visible = |sub: &SubscriptionRecord| principal.tenant().is_none_or(|t| sub.tenant.as_deref() == Some(t));
        let page = log.page(self.0.kv, &bounds, Direction::NewestFirst, cursor, limit, |ids| {
            Ok(self.0.load_subscriptions(channel, ids)?.into_iter().map(|sub| sub.filter(visible)).collect())
        })?;
        let items = page.items.into_iter().map(|(_, sub)| sub).collect();
        self.0.tidy_subscriptions(channel, &bounds)?;
        Ok(SubscriptionPage { items, next_cursor: page.next })
    }
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// The records of `ids` that still belong to `channel`, in order.
    pub(crate) fn load_subscriptions(
        &self,
        channel: &str,
        ids: &[SubscriptionId],
    ) -> Result<Vec<Option<SubscriptionRecord>>, KvError> {
        let sub_keys: Vec<_> = ids.iter().map(keys::subscription).collect();
        Ok(self.kv.load_many(&sub_keys)?.into_iter().map(|sub| sub.filter(|sub| sub.channel == channel)).collect())
    }

    /// A compaction step of the channel's list when it carries much dead history.
    pub(crate) fn tidy_subscriptions(&self, channel: &str, bounds: &Bounds) -> Result<(), KvError> {
        if !bounds.needs_tidy() {
            return Ok(());
        }
        let now = || self.clock.now_ms();
        let is_live =
            |ids: &[SubscriptionId]| Ok(self.load_subscriptions(channel, ids)?.iter().map(Option::is_some).collect());
        subscription_log(channel).tidy(self.kv, bounds, &now, is_live)?;
        Ok(())
    }
}
