//! The floor the accept benchmark compares Hookah with: per request, one `set` of a new key in
//! the `default` store through `wasi:keyvalue` (the interface Hookah uses), then `204`. A durable
//! accept can hardly be cheaper on a store where each write is a commit.
#![cfg(target_arch = "wasm32")]
// The export macro generates the component ABI glue, which is unsafe code.
#![allow(unsafe_code)]

use futures::SinkExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;
use spin_sdk::wit::wasi::keyvalue::store;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    // The client sends every request to a path of its own, so the key is new each time.
    let key = format!("floor:{}", request.path_with_query().unwrap_or_default());
    let stored = store::open("default").and_then(|bucket| bucket.set(&key, b"x"));
    let status = if stored.is_ok() { 204 } else { 503 };
    let headers = Fields::from_list(&[("content-length".into(), b"0".to_vec())]).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let mut body = response.take_body();
    response_out.set(response);
    // An outgoing body dropped without being finished would read as cut off: close it.
    let _ = body.close().await;
}
