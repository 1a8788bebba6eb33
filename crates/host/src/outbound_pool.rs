//! Outbound `http://` requests on reused connections, as Spin 3.4 and later send a component's
//! `wasi:http` requests (its runtime config's `connection_pooling`, on by default): one client
//! per app keeps idle connections to each host and reuses them. `https://` requests still get a
//! connection of their own from wasmtime-wasi-http's default client.
//!
//! Timeouts: the first-byte timeout bounds the wait for the response head, connecting included
//! (a reused connection has nothing to connect); the between-bytes timeout bounds each wait for
//! more of the body.

use std::error::Error as _;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// wasmtime-wasi-http's wait when a request sets no timeout.
const NO_TIMEOUT_SET: Duration = Duration::from_secs(600);

pub(crate) struct PooledClient(Client<HttpConnector, WasiBody>);

impl PooledClient {
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        PooledClient(Client::builder(TokioExecutor::new()).build(connector))
    }

    /// Sends `request` on an idle connection to its host, or a new one.
    pub(crate) async fn send(
        &self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<hyper::Response<WasiBody>, Error> {
        let first_byte = options.and_then(|o| o.first_byte_timeout).unwrap_or(NO_TIMEOUT_SET);
        let between_bytes = options.and_then(|o| o.between_bytes_timeout).unwrap_or(NO_TIMEOUT_SET);
        let response = tokio::time::timeout(first_byte, self.0.request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(error_of)?;
        Ok(response.map(|incoming| BetweenBytes::new(incoming, between_bytes).boxed_unsync()))
    }
}

/// The error the default client would have reported: a failed connect as the I/O error it is
/// (wasmtime tells DNS failures and refusals apart from it), the rest by what hyper saw.
fn error_of(error: hyper_util::client::legacy::Error) -> Error {
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if error.is_connect() {
                return Error::Connect(std::io::Error::new(io.kind(), io.to_string()));
            }
        }
        if let Some(Error::HttpRequestBodySize(size)) = current.downcast_ref::<Error>() {
            return Error::HttpRequestBodySize(*size);
        }
        if let Some(hyper_error) = current.downcast_ref::<hyper::Error>() {
            return if hyper_error.is_timeout() {
                Error::HttpResponseTimeout
            } else if hyper_error.is_parse() || hyper_error.is_parse_status() {
                Error::HttpProtocolError
            } else {
                Error::ConnectionTerminated
            };
        }
        cause = current.source();
    }
    if error.is_connect() {
        Error::ConnectionRefused
    } else {
        Error::ConnectionTerminated
    }
}

/// A response body that fails once no bytes came for its limit.
struct BetweenBytes {
    incoming: Incoming,
    limit: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl BetweenBytes {
    fn new(incoming: Incoming, limit: Duration) -> Self {
        BetweenBytes { incoming, limit, deadline: Box::pin(tokio::time::sleep(limit)) }
    }
}

impl Body for BetweenBytes {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + this.limit;
                this.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                Poll::Ready(Some(Err(if error.is_timeout() { Error::HttpResponseTimeout } else { Error::from(error) })))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(this.deadline.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::net::TcpListener;

    fn get(port: u16) -> hyper::Request<WasiBody> {
        let body = http_body_util::Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync();
        hyper::Request::get(format!("http://127.0.0.1:{port}/")).body(body).unwrap()
    }

    fn first_byte_within(limit: Duration) -> Option<RequestOptions> {
        Some(RequestOptions { connect_timeout: None, first_byte_timeout: Some(limit), between_bytes_timeout: None })
    }

    /// A server answering `ok` on keep-alive connections; returns its port and how many
    /// connections it accepted.
    async fn counting_server() -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(Bytes::from(
                        "ok",
                    ))))
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
            }
        });
        (port, accepted)
    }

    #[tokio::test]
    async fn requests_one_after_another_share_one_connection() {
        let (port, accepted) = counting_server().await;
        let client = PooledClient::new();
        for _ in 0..3 {
            let response = client.send(get(port), None).await.unwrap();
            assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_connection_is_reported_as_such() {
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let error = PooledClient::new().send(get(port), None).await.unwrap_err();
        assert!(matches!(&error, Error::Connect(io) if io.kind() == std::io::ErrorKind::ConnectionRefused), "{error}");
    }

    #[tokio::test]
    async fn a_response_head_later_than_the_first_byte_timeout_is_a_read_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and never answers.
        let _held = tokio::spawn(async move {
            let (_stream, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await
        });
        let error =
            PooledClient::new().send(get(port), first_byte_within(Duration::from_millis(200))).await.unwrap_err();
        assert!(matches!(error, Error::ConnectionReadTimeout), "{error}");
    }
}
