//! Test support: the host under test, receivers and a client.

pub mod client;
pub mod hookah;
pub mod receiver;
pub mod signature;
pub mod waits;

pub use client::send;
pub use hookah::{TestHookah, TOKEN};
pub use receiver::{Answer, Receiver};
pub use waits::WAIT;
