//! The HTTP component: accepts webhook calls and serves the API, answers, then makes the first
//! attempt in the same invocation (Spin keeps running a handler after its response is complete).
//! It reads the request (the body capped while reading), calls the core, answers through Spin's
//! early-response form, then runs the core's follow-up and prints its log lines.
// The export macro generates the component ABI glue, which is unsafe code.
#![allow(unsafe_code)]

use futures::{SinkExt, Stream, StreamExt};
use hookah_core::ports::Clock as _;
use hookah_core::request::too_large;
use hookah_core::{ApiError, Hookah, Incoming, Reply};
use hookah_spin_ports::{load_config, SpinKv, SpinTransport, WallClock, WasiEntropy};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    let started = WallClock.now_ms();
    let config = match load_config() {
        Ok(config) => config,
        Err(error) => return refuse(request, response_out, ApiError::new(500, "bad_config", error.to_string())).await,
    };
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        Err(error) => return refuse(request, response_out, ApiError::storage(error)).await,
    };
    let incoming = match read_request(request, config.max_body_bytes).await {
        Ok(incoming) => incoming,
        Err(error) => return respond(response_out, Reply::error(&error)).await,
    };
    let hookah =
        Hookah { config: &config, kv: &kv, transport: &SpinTransport, clock: &WallClock, entropy: &WasiEntropy };
    let mut reply = hookah.handle(incoming).await;
    let follow_up = std::mem::replace(&mut reply.follow_up, hookah_core::FollowUp::Nothing);
    let status = reply.status;
    respond(response_out, reply).await;
    // Structured log: one JSON line per attempt (and per sweep), on stdout.
    for line in hookah.after_answer(follow_up, status, started).await {
        println!("{line}");
    }
}

/// Bytes of an oversized body read and thrown away before the 413 goes out. A client still
/// sending when the answer comes and the connection closes would see a reset instead of the
/// answer; past this bound it does, rather than Hookah reading without end.
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;

/// Answers an error found before the request was read, after reading its body away (up to
/// `DRAIN_BYTES`), so a client still sending sees the answer rather than a reset.
async fn refuse(request: IncomingRequest, response_out: ResponseOutparam, error: ApiError) {
    drain(&mut request.into_body_stream(), DRAIN_BYTES).await;
    respond(response_out, Reply::error(&error)).await
}

/// Reads method, path, headers and a body of at most `limit` bytes. An oversized body is
/// refused by its `content-length` when it declares one; every refusal reads the body to its
/// end (up to `DRAIN_BYTES`) before it goes out.
async fn read_request(request: IncomingRequest, limit: usize) -> Result<Incoming, ApiError> {
    let method = request.method().to_string();
    let path_and_query = request.path_with_query().unwrap_or_else(|| "/".into());
    let mut headers = Vec::new();
    let mut bad_header = None;
    for (name, value) in request.headers().entries() {
        match String::from_utf8(value) {
            Ok(value) => headers.push((name, value)),
            Err(_) => {
                bad_header.get_or_insert(name);
            }
        }
    }
    if let Some(name) = bad_header {
        drain(&mut request.into_body_stream(), DRAIN_BYTES).await;
        return Err(ApiError::bad_request("bad_header", format!("header {name} is not UTF-8")));
    }
    let declared = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<u64>().ok());
    let mut stream = request.into_body_stream();
    if let Some(length) = declared.filter(|&length| length > limit as u64) {
        if length <= DRAIN_BYTES {
            drain(&mut stream, length).await;
        }
        return Err(too_large(limit).into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        // A stream error ends the body: nothing more can be read from it.
        let chunk = chunk.map_err(|_| ApiError::bad_request("bad_body", "the request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            drain(&mut stream, DRAIN_BYTES).await;
            return Err(too_large(limit).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Incoming { method, path_and_query, headers, body })
}

/// Reads and discards the rest of a body, at most `bound` bytes of it.
async fn drain<E>(stream: &mut (impl Stream<Item = Result<Vec<u8>, E>> + Unpin), bound: u64) {
    let mut read = 0u64;
    while read < bound {
        match stream.next().await {
            Some(Ok(chunk)) => read += chunk.len() as u64,
            _ => return,
        }
    }
}

async fn respond(response_out: ResponseOutparam, reply: Reply) {
    let mut headers: Vec<(String, Vec<u8>)> =
        reply.headers.into_iter().map(|(name, value)| (name, value.into_bytes())).collect();
    headers.push(("content-length".into(), reply.body.len().to_string().into_bytes()));
    let response = OutgoingResponse::new(Fields::from_list(&headers).unwrap_or_else(|_| Fields::new()));
    // The status comes from the core's fixed set, all valid.
    let _ = response.set_status_code(reply.status);
    let mut body = response.take_body();
    response_out.set(response);
    // A client that went away can't be told anything; the job is stored either way.
    let _ = body.send(reply.body).await;
    let _ = body.close().await;
}
