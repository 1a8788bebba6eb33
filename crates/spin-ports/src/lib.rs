//! Hookah's ports on spin-sdk 5.2: key-value with `wasi:keyvalue` atomics and batch, outbound HTTP
//! with timeouts, wall clock, entropy and variables. SDK churn stays in this crate.
#![forbid(unsafe_code)]

mod kv;
mod transport;

pub use kv::SpinKv;
pub use transport::SpinTransport;

use hookah_core::ports::{Clock, Entropy};
use hookah_core::Config;

/// Reads the configuration from the component's variables; one the component does not
/// declare takes its default.
pub fn load_config() -> Result<Config, hookah_core::config::ConfigError> {
    Config::from_lookup(|name| spin_sdk::variables::get(name).ok())
}

/// `wasi:clocks/wall-clock`, which every Spin host provides.
pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

/// `wasi:random/random`.
pub struct WasiEntropy;

impl Entropy for WasiEntropy {
    fn fill(&self, buf: &mut [u8]) {
        let bytes = wasi::random::random::get_random_bytes(buf.len() as u64);
        buf.copy_from_slice(&bytes[..buf.len()]);
    }
}
