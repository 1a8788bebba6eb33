//! The list of channels (`chans`, a slot log of channel names): a channel joins it when its
//! record is first stored, by `PUT …/channels/{name}` or with its first subscription, in the same
//! commit. Listing pages through it newest first, reading each channel's record and its count of
//! live subscriptions (`chan:{name}:subs:live`): a page costs what it shows. Two first writers of
//! one channel at once may both add it; a page shows it once, and a later page may show it again.

use super::slot_log::{Direction, Item, SlotLog};
use super::subscriptions::Channels;
use super::Hookah;
use crate::channels::grammar::check_channel;
use crate::channels::record::ChannelRecord;
use crate::keys::{self, Entry, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use crate::Error;

/// A channel's name, as the list holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ChannelName(String);

impl Item for ChannelName {
    fn parse(text: &str) -> Option<Self> {
        check_channel(text).ok().map(|()| ChannelName(text.to_string()))
    }
    fn text(&self) -> &str {
        &self.0
    }
}

fn channel_log() -> SlotLog<ChannelName> {
    SlotLog::new(keys::channel_log())
}

/// A listed channel and how many live subscriptions it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedChannel {
    pub record: ChannelRecord,
    pub subscriptions: u64,
}

/// One page of channels, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPage {
    pub items: Vec<ListedChannel>,
    /// The slot the next page starts at.
    pub next_cursor: Option<u64>,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// The writes that store `record` for the first time: the record and its entry in the list
    /// of channels, for the caller's batched write (within `TURN_DEADLINE_MS`, as every slot
    /// log's append).
    pub(crate) fn first_channel_record(&self, record: &ChannelRecord) -> Result<Vec<Entry>, KvError> {
        let name = ChannelName(record.name.clone());
        let mut entries = channel_log().append(self.kv, &[name], self.clock.now_ms())?.entries;
        entries.push(keys::channel(&record.name).entry(record));
        Ok(entries)
    }
}

impl<K: Kv, T: Transport> Channels<'_, K, T> {
    /// Up to `limit` channels from `cursor` (the newest when `None`), with their live
    /// subscription counts.
    pub fn list_channels(&self, limit: usize, cursor: Option<u64>) -> Result<ChannelPage, Error> {
        let log = channel_log();
        let bounds = log.bounds(self.0.kv)?;
        let page = log.page(self.0.kv, &bounds, Direction::NewestFirst, cursor, limit, |names| {
            self.0.kv.load_many(&names.iter().map(|name| keys::channel(&name.0)).collect::<Vec<_>>())
        })?;
        let counts: Vec<_> =
            page.items.iter().map(|(_, record)| keys::log_live(&keys::channel_subs(&record.name))).collect();
        let counts = self.0.kv.load_many(&counts)?;
        let items = page
            .items
            .into_iter()
            .zip(counts)
            .map(|((_, record), subscriptions)| ListedChannel { record, subscriptions })
            .collect();
        Ok(ChannelPage { items, next_cursor: page.next })
    }
}
