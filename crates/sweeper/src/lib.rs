//! The cron-triggered sweeper: each firing delivers due retries, takes over abandoned attempts
//! and deletes expired jobs, through the same engine the HTTP sweep route uses. Its world is
//! declared in `wit/spin-cron.wit` (`fermyon:spin-cron@2.0.0`).
// The export macro generates the component ABI glue, which is unsafe code.
#![allow(unsafe_code)]

use hookah_core::ports::Clock;
use hookah_core::Hookah;
use hookah_spin_ports::{load_config, SpinKv, SpinTransport, WallClock, WasiEntropy};

spin_sdk::wit_bindgen::generate!({
    world: "spin-cron",
    path: "../../wit/spin-cron.wit",
    runtime_path: "::spin_sdk::wit_bindgen::rt",
});

struct Sweeper;

impl Guest for Sweeper {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), Error> {
        let config = load_config().map_err(|e| Error::Other(e.to_string()))?;
        let kv = SpinKv::open_default().map_err(|e| Error::Other(e.to_string()))?;
        let hookah =
            Hookah { config: &config, kv: &kv, transport: &SpinTransport, clock: &WallClock, entropy: &WasiEntropy };
        let report = spin_sdk::http::run(hookah.scheduled_sweep()).map_err(|e| Error::Other(e.to_string()))?;
        // Structured log: the sweep's line, then one per attempt it made.
        for line in report.log_lines(WallClock.now_ms()) {
            println!("{line}");
        }
        Ok(())
    }
}

export!(Sweeper);
