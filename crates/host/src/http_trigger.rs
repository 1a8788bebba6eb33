//! The HTTP trigger: a hyper server that hands each request to a fresh
//! instance of the routed component through `wasi:http/incoming-handler`.
//!
//! As in Spin, the guest runs in its own task and the response goes back as
//! soon as the guest sets the response outparam; its body streams while the
//! guest writes it, and the guest may keep running after finishing the body
//! (the early-response pattern Hookah relies on). A guest that traps or
//! returns without a response yields a 500; an unmatched path a 404. Under a
//! handler time limit (`limits/deadline.rs`) the whole invocation, the work
//! after the response included, is killed once it has run that long.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView as _;

use crate::app::{App, Trigger};
use crate::routes::RouteMatch;
use crate::tasks::until_stopped;

/// Accepts connections until `shutdown` turns true, then asks open
/// connections to finish their current request and waits for them.
pub(crate) async fn serve(listener: TcpListener, app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = until_stopped(&mut shutdown) => break,
        };
        while connections.try_join_next().is_some() {}
        let (stream, client_addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Typically EMFILE; keep serving rather than dying.
                eprintln!("hookah-host: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let mut shutdown = shutdown.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(app, req, client_addr).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = until_stopped(&mut shutdown) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                if !e.is_incomplete_message() {
                    eprintln!("hookah-host: connection from {client_addr}: {e}");
                }
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn handle(app: Arc<App>, req: Request<Incoming>, client_addr: SocketAddr) -> Response<HyperOutgoingBody> {
    let path = req.uri().path().to_string();
    if let Some(well_known) = path.strip_prefix("/.well-known/spin/") {
        return match well_known {
            "health" => text(StatusCode::OK, "OK"),
            _ => text(StatusCode::NOT_FOUND, ""),
        };
    }
    let Some(route) = app.router.route(&path) else {
        return text(StatusCode::NOT_FOUND, "");
    };
    match execute(&app, &route, req, client_addr).await {
        Ok(response) => response,
        Err(e) => {
            eprintln!("hookah-host: error processing request to {path}: {e:#}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }
}

async fn execute(
    app: &Arc<App>,
    route: &RouteMatch,
    req: Request<Incoming>,
    client_addr: SocketAddr,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    let component = app.component(&route.component)?;
    let proxy =
        component.http.clone().ok_or_else(|| anyhow!("component {:?} is not an HTTP component", route.component))?;
    let req = prepare_request(req, route, client_addr)?;

    let mut store = app.new_store(component, Trigger::Http);
    let (response_tx, response_rx) = oneshot::channel();
    let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
    let outparam = store.data_mut().http().new_response_outparam(response_tx)?;

    let id = component.id.clone();
    let limited = app.clone();
    app.tasks.spawn_invocation(async move {
        let invocation = async {
            let proxy = proxy.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
        };
        let result = limited.handler_limit.run("HTTP", &id, invocation).await;
        // After an early response nobody else will see this error: log it here.
        if let Some(Err(e)) = result {
            eprintln!("hookah-host: component {id:?} failed: {e:?}");
        }
    });

    match response_rx.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(anyhow!("guest responded with error {code:?}")),
        Err(_) => Err(anyhow!("guest failed to produce a response")),
    }
}

/// Gives the guest what Spin gives it: an absolute URI (scheme `http`,
/// authority from `Host`) and the `spin-*` routing headers.
fn prepare_request<B>(mut req: Request<B>, route: &RouteMatch, client_addr: SocketAddr) -> anyhow::Result<Request<B>> {
    let host = match req.headers().get(HOST) {
        Some(h) => h.to_str().context("'Host' header is not valid UTF-8")?.to_string(),
        None => match req.uri().authority() {
            Some(a) => a.to_string(),
            None => bail!("no 'Host' header present in request"),
        },
    };
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".to_string());
    let full_url = format!("http://{host}{path_and_query}");
    *req.uri_mut() = Uri::builder()
        .scheme("http")
        .authority(host.as_str())
        .path_and_query(path_and_query.as_str())
        .build()
        .context("building the request URI")?;

    for (name, value) in [
        ("spin-full-url", full_url.as_str()),
        ("spin-path-info", &route.path_info),
        ("spin-matched-route", &route.based_route),
        ("spin-base-path", "/"),
        ("spin-raw-component-route", &route.raw_route),
        ("spin-component-route", &route.raw_route_or_prefix),
        ("spin-client-addr", &client_addr.to_string()),
    ] {
        // These are the host's word: a client-sent copy is replaced.
        req.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).with_context(|| format!("header {name} value {value:?}"))?,
        );
    }
    Ok(req)
}

fn text(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    let mut response =
        Response::new(Full::new(Bytes::from_static(body.as_bytes())).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{HttpTrigger, RouteDecl};
    use crate::routes::Router;

    fn routed(route: &str, path: &str) -> RouteMatch {
        Router::build(&[HttpTrigger { route: RouteDecl::Path(route.into()), component: "c".into() }])
            .unwrap()
            .route(path)
            .unwrap()
    }

    #[test]
    fn guest_sees_absolute_uri_and_spin_headers() {
        let req = Request::builder()
            .uri("/api/jobs/1?x=y")
            .header(HOST, "hookah.test:3000")
            .header("spin-path-info", "spoofed")
            .header("x-custom", "kept")
            .body(())
            .unwrap();
        let client: SocketAddr = "10.0.0.7:5555".parse().unwrap();
        let req = prepare_request(req, &routed("/api/...", "/api/jobs/1"), client).unwrap();
        assert_eq!(req.uri().to_string(), "http://hookah.test:3000/api/jobs/1?x=y");
        let h = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(h("spin-full-url").as_deref(), Some("http://hookah.test:3000/api/jobs/1?x=y"));
        assert_eq!(h("spin-path-info").as_deref(), Some("/jobs/1"));
        assert_eq!(h("spin-matched-route").as_deref(), Some("/api/..."));
        assert_eq!(h("spin-base-path").as_deref(), Some("/"));
        assert_eq!(h("spin-raw-component-route").as_deref(), Some("/api/..."));
        assert_eq!(h("spin-component-route").as_deref(), Some("/api"));
        assert_eq!(h("spin-client-addr").as_deref(), Some("10.0.0.7:5555"));
        assert_eq!(h("x-custom").as_deref(), Some("kept"));
        assert_eq!(req.headers().get_all("spin-path-info").iter().count(), 1);
    }

    #[test]
    fn a_request_without_host_is_rejected() {
        let req = Request::builder().uri("/x").body(()).unwrap();
        let client: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(prepare_request(req, &routed("/...", "/x"), client).is_err());
    }
}
