//! Test support: the host under test (in process or as a process), its store, receivers and a
//! client.

pub mod client;
pub mod hookah;
pub mod limits;
pub mod process;
pub mod receiver;
pub mod signature;
pub mod store;
pub mod waits;

pub use client::send;
pub use hookah::{Launch, TestHookah, TOKEN};
pub use limits::Lift;
pub use process::HostProcess;
pub use receiver::{Answer, Receiver};
pub use store::TestStore;
pub use waits::WAIT;
