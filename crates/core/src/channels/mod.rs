//! Channels: subscriptions an app's users register, the events published to them, and the
//! scoped tokens that let users manage their own subscriptions.

pub mod grammar;
pub mod record;
pub mod token;
