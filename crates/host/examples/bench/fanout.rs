//! `fanout`: one event published to a channel of N subscriptions; the first batch goes out before
//! the 202, the rest in sweeps (driven here through the HTTP route, a second apart on the host's
//! clock) until every subscription got it.

use crate::client::{call, new_client, send};
use crate::hosts;
use crate::receiver::{Class, Receiver};
use crate::report::Report;
use crate::store::BenchStore;
use crate::Options;
use std::time::{Duration, Instant};

/// Sweeps at most, before the bench gives up waiting.
const MAX_SWEEPS: usize = 100;

pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    let subscriptions = options.subscriptions;
    hosts::build(false).await?;
    let store = BenchStore::start(options.store)?;
    let host = hosts::start_hookah(&store, false, &[]).await?;
    let receiver = Receiver::start(host.clock().clone()).await?;
    let client = new_client(options.concurrency);
    let base = format!("http://{}", host.addr());
    let mut report = Report::new("fanout", store.kind.name());
    report.count("subscriptions", subscriptions);

    call(&client, "PUT", &format!("{base}/_hookah/v1/channels/bench"), br#"{"verify_intent":false}"#.to_vec()).await;
    let t = Instant::now();
    for i in 0..subscriptions {
        let body = format!(r#"{{"url":"http://{}"}}"#, receiver.target("sub", &i.to_string())).into_bytes();
        call(&client, "POST", &format!("{base}/_hookah/v1/channels/bench/subscriptions"), body).await;
    }
    report.num("subscribe_each", Some(t.elapsed().as_secs_f64() * 1e3 / subscriptions as f64), 2, "ms");

    let t = Instant::now();
    let request = hyper::Request::post(format!("{base}/_hookah/v1/channels/bench/events"))
        .header("authorization", format!("Bearer {}", crate::client::TOKEN))
        .header("hookah-event-type", "bench.ping")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))?;
    let status = client.request(request).await?.status().as_u16();
    let publish_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut sweeps = 0;
    while receiver.delivered(Class::Other) < subscriptions && sweeps < MAX_SWEEPS {
        host.clock().advance(Duration::from_secs(1));
        send(&client, "POST", &format!("{base}/_hookah/v1/sweep"), Vec::new()).await?;
        sweeps += 1;
    }
    report.count("publish_status", status as usize);
    report.num("publish_answered", Some(publish_ms), 0, "ms");
    report.count("delivered", receiver.delivered(Class::Other));
    report.count("sweeps", sweeps);
    report.num("all_delivered_secs", Some(t.elapsed().as_secs_f64()), 2, "s");
    report.print(options.json_out.as_deref())?;
    host.shutdown().await
}
