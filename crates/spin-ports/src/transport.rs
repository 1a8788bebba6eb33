//! Outbound HTTP through `wasi:http/outgoing-handler` with connect, first-byte and between-bytes
//! timeouts (spin-sdk's `send` sets none). Many sends run at once under Spin's executor.

use futures::{future, SinkExt, StreamExt};
use hookah_core::delivery::{AttemptResult, TransportError};
use hookah_core::ports::{Captured, OutboundRequest, Sent, Transport};
use spin_executor::CancelOnDropToken;
use spin_sdk::http::{Fields, IncomingResponse, Method, OutgoingRequest, Scheme};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{ErrorCode, FutureIncomingResponse, RequestOptions};
use std::task::Poll;
use std::time::Instant;

pub struct SpinTransport;

impl Transport for SpinTransport {
    async fn send(&self, request: OutboundRequest) -> Sent {
        let started = Instant::now();
        let capture_bytes = request.capture_bytes;
        let (result, response) = match send(request).await {
            Ok(response) => {
                let result = AttemptResult::Response {
                    status: response.status(),
                    retry_after: header(&response, "retry-after"),
                };
                (result, Some(capture(response, capture_bytes).await))
            }
            Err((error, message)) => (AttemptResult::Failed { error, message }, None),
        };
        Sent { result, duration_ms: started.elapsed().as_millis() as u64, response }
    }
}

type Failure = (TransportError, String);

async fn send(request: OutboundRequest) -> Result<IncomingResponse, Failure> {
    let (scheme, rest) = request.url.split_once("://").ok_or((TransportError::Other, "bad url".to_string()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let headers = Fields::new();
    for (name, value) in &request.headers {
        headers.append(name, value.as_bytes()).map_err(|e| protocol(format!("header {name}: {e:?}")))?;
    }
    if !request.body.is_empty() || !matches!(request.method.as_str(), "GET" | "HEAD" | "DELETE" | "OPTIONS") {
        // Without a length the body would go out chunked, which many receivers refuse.
        let length = request.body.len().to_string();
        headers.set("content-length", &[length.into_bytes()]).map_err(|e| protocol(format!("{e:?}")))?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let method = method(&request.method);
    let scheme = if scheme == "https" { Scheme::Https } else { Scheme::Http };
    let set_ok = outgoing.set_method(&method).is_ok()
        && outgoing.set_scheme(Some(&scheme)).is_ok()
        && outgoing.set_authority(Some(authority)).is_ok()
        && outgoing.set_path_with_query(Some(path)).is_ok();
    if !set_ok {
        return Err(protocol(format!("cannot build a request for {}", request.url)));
    }
    let timeout_ns = request.timeout_ms.saturating_mul(1_000_000);
    let options = RequestOptions::new();
    // Setting a timeout only fails when the host does not support it; then it uses its own.
    let _ = options.set_connect_timeout(Some(timeout_ns));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    let _ = options.set_between_bytes_timeout(Some(timeout_ns));

    let mut body = outgoing.take_body();
    let pending = outgoing_handler::handle(outgoing, Some(options)).map_err(failure)?;
    let write = async move {
        if !request.body.is_empty() {
            body.send(request.body).await.map_err(|e| protocol(format!("writing the body: {e:?}")))?;
        }
        body.close().await.map_err(|e| protocol(format!("finishing the body: {e:?}")))
    };
    let response = response(pending);
    futures::pin_mut!(write, response);
    // A receiver may answer (or the host time out) before it has read the whole body.
    match future::select(write, response).await {
        future::Either::Left((Ok(()), response)) => response.await,
        // The host stopped taking the body: the response says why (a refusal such as the
        // allow-list's or an outbound cap's, a timeout, or an answer before the body was read).
        future::Either::Left((Err(_), response)) => response.await,
        future::Either::Right((response, _)) => response,
    }
}

/// Waits for the response without blocking the other sends of this invocation.
async fn response(pending: FutureIncomingResponse) -> Result<IncomingResponse, Failure> {
    let mut registration: Option<CancelOnDropToken> = None;
    let outcome = future::poll_fn(move |cx| match pending.get() {
        Some(outcome) => Poll::Ready(outcome),
        None => {
            // Dropping the old registration (if any) withdraws it; the new one wakes us.
            drop(registration.take());
            let token = spin_executor::push_waker_and_get_token(pending.subscribe(), cx.waker().clone());
            registration = Some(token.into());
            Poll::Pending
        }
    })
    .await;
    match outcome {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(failure(code)),
        Err(()) => Err((TransportError::Other, "the response was already taken".into())),
    }
}

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

/// Reads the headers and up to `limit` bytes of the body; a body that fails midway keeps what
/// arrived and counts as truncated (it is not the whole body either).
async fn capture(response: IncomingResponse, limit: usize) -> Captured {
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let mut captured = Captured { headers, body: Vec::new(), truncated: false };
    if limit == 0 {
        return captured;
    }
    let mut stream = response.take_body_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            captured.truncated = true;
            break;
        };
        let room = limit - captured.body.len();
        if chunk.len() > room {
            captured.body.extend_from_slice(&chunk[..room]);
            captured.truncated = true;
            break;
        }
        captured.body.extend_from_slice(&chunk);
    }
    captured
}

fn header(response: &IncomingResponse, name: &str) -> Option<String> {
    let values = response.headers().get(name);
    values.first().and_then(|value| String::from_utf8(value.clone()).ok())
}

fn protocol(message: String) -> Failure {
    (TransportError::Protocol, message)
}

fn failure(code: ErrorCode) -> Failure {
    let kind = match &code {
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::DnsTimeout
        | ErrorCode::HttpResponseTimeout => TransportError::Timeout,
        ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::DestinationIpProhibited => TransportError::Connect,
        ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound => TransportError::Dns,
        ErrorCode::TlsProtocolError | ErrorCode::TlsCertificateError | ErrorCode::TlsAlertReceived(_) => {
            TransportError::Tls
        }
        ErrorCode::HttpRequestDenied => TransportError::Denied,
        ErrorCode::HttpProtocolError | ErrorCode::HttpResponseIncomplete | ErrorCode::HttpResponseBodySize(_) => {
            TransportError::Protocol
        }
        _ => TransportError::Other,
    };
    (kind, format!("{code:?}"))
}
