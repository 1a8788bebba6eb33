//! The floor the accept benchmark compares Hookah with: per request, one `set` of a new key in
//! the `default` store through `wasi:keyvalue` (the interface Hookah uses), then `204`. A durable
//! accept can hardly be cheaper on a store where each write is a commit.
//!
//! `/config/...` instead times what every Hookah invocation does first: reading and parsing its
//! variables (`load_config`), once as the first thing in the instance and then `CONFIG_LOADS`
//! times more, reported in nanoseconds in `x-config-load-first-ns` and `x-config-load-ns` (mean).
#![cfg(target_arch = "wasm32")]
// The export macro generates the component ABI glue, which is unsafe code.
#![allow(unsafe_code)]

use futures::SinkExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;
use spin_sdk::wit::wasi::keyvalue::store;
use std::time::Instant;

/// Config loads the `/config` route times after the first.
const CONFIG_LOADS: u32 = 20;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    let path = request.path_with_query().unwrap_or_default();
    let mut headers = vec![("content-length".to_string(), b"0".to_vec())];
    let status = if path.starts_with("/config/") {
        let (first, mean) = time_config_loads();
        headers.push(("x-config-load-first-ns".into(), first.to_string().into_bytes()));
        headers.push(("x-config-load-ns".into(), mean.to_string().into_bytes()));
        204
    } else {
        // The client sends every request to a path of its own, so the key is new each time.
        let key = format!("floor:{path}");
        let stored = store::open("default").and_then(|bucket| bucket.set(&key, b"x"));
        if stored.is_ok() {
            204
        } else {
            503
        }
    };
    let headers = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let mut body = response.take_body();
    response_out.set(response);
    // An outgoing body dropped without being finished would read as cut off: close it.
    let _ = body.close().await;
}

/// Nanoseconds of the instance's first `load_config`, and the mean of `CONFIG_LOADS` more.
fn time_config_loads() -> (u128, u128) {
    let started = Instant::now();
    let _ = hookah_spin_ports::load_config();
    let first = started.elapsed().as_nanos();
    let started = Instant::now();
    for _ in 0..CONFIG_LOADS {
        let _ = std::hint::black_box(hookah_spin_ports::load_config());
    }
    (first, started.elapsed().as_nanos() / u128::from(CONFIG_LOADS))
}
