//! The flows beside `backlog`'s traffic: a paused key piling up jobs and an ordered key working
//! through a stream, while the background traffic's first-attempt delays are measured against
//! the quiet baseline. Reports the ordered key's throughput and order, that the paused key sent
//! nothing, and how long its queue takes to drain once resumed.

use crate::accept::wait_for;
use crate::client::{call, HttpClient};
use crate::receiver::{Arrival, Receiver};
use crate::report::Report;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Jobs put in each flow.
const PAUSED_JOBS: usize = 500;
const ORDERED_JOBS: usize = 300;
/// A batch's calls per request.
const BATCH: usize = 100;
const DRAIN_WAIT: Duration = Duration::from_secs(300);

/// The two flows, set up and filled.
pub(crate) struct Flows {
    base: String,
    receiver: Arc<Receiver>,
}

impl Flows {
    /// Pauses `paused`, orders `ordered`, and submits their jobs (in batches, calls in order).
    pub(crate) async fn start(client: &HttpClient, base: &str, receiver: &Arc<Receiver>) -> anyhow::Result<Flows> {
        let paused =
            call(client, "PUT", &format!("{base}/_hookah/v1/flows/paused"), br#"{"paused":true}"#.to_vec()).await;
        let ordered =
            call(client, "PUT", &format!("{base}/_hookah/v1/flows/ordered"), br#"{"ordered":true}"#.to_vec()).await;
        anyhow::ensure!(paused["paused"] == true && ordered["ordered"] == true, "flows not set: {paused} {ordered}");
        let flows = Flows { base: base.to_string(), receiver: receiver.clone() };
        flows.submit(client, "paused", PAUSED_JOBS).await?;
        flows.submit(client, "ordered", ORDERED_JOBS).await?;
        Ok(flows)
    }

    async fn submit(&self, client: &HttpClient, key: &str, n: usize) -> anyhow::Result<()> {
        for start in (0..n).step_by(BATCH) {
            let calls: Vec<serde_json::Value> = (start..(start + BATCH).min(n))
                .map(|k| {
                    let url = format!("http://{}", self.receiver.target("ok", &format!("{key}-{k}")));
                    serde_json::json!({ "url": url, "flow_key": key, "body": "{}" })
                })
                .collect();
            let answer =
                call(client, "POST", &format!("{}/_hookah/v1/batch", self.base), serde_json::to_vec(&calls)?).await;
            anyhow::ensure!(answer["jobs"].as_array().map(Vec::len) == Some(calls.len()), "batch refused: {answer}");
        }
        Ok(())
    }

    /// The ordered key's figures (once its stream is through) and the paused key's so far.
    pub(crate) async fn report_ordered(&self, report: &mut Report) {
        let done = wait_for(|| self.receiver.delivered_paths("/ok/ordered-") >= ORDERED_JOBS, DRAIN_WAIT).await;
        let arrivals = self.receiver.arrivals();
        let firsts = first_arrivals(&arrivals, "ordered");
        report.count("ordered_jobs", ORDERED_JOBS);
        report.count("ordered_delivered", firsts.len());
        let out_of_order = firsts.windows(2).filter(|pair| pair[1] < pair[0]).count();
        report.count("ordered_out_of_order", out_of_order);
        let span = firsts.first().zip(firsts.last()).map(|(a, b)| b.saturating_sub(*a) as f64 / 1e3);
        let rate = span.filter(|_| done).map(|secs| (firsts.len() - 1) as f64 / secs.max(1e-3));
        report.num("ordered_jobs_per_sec", rate, 1, "jobs/s");
        report.count("paused_delivered_while_paused", self.receiver.delivered_paths("/ok/paused-"));
    }

    /// Resumes the paused key; reports how long its queue took to drain.
    pub(crate) async fn resume(&self, client: &HttpClient, report: &mut Report) {
        let started = std::time::Instant::now();
        call(client, "POST", &format!("{}/_hookah/v1/flows/paused/resume", self.base), Vec::new()).await;
        let drained = wait_for(|| self.receiver.delivered_paths("/ok/paused-") >= PAUSED_JOBS, DRAIN_WAIT).await;
        report.num("paused_drain_secs_after_resume", drained.then(|| started.elapsed().as_secs_f64()), 1, "s");
    }
}

/// First arrival of each of `key`'s jobs, by job number.
fn first_arrivals(arrivals: &HashMap<String, Vec<Arrival>>, key: &str) -> Vec<u64> {
    let prefix = format!("/ok/{key}-");
    let mut numbered: Vec<(usize, u64)> = arrivals
        .iter()
        .filter_map(|(path, seen)| Some((path.strip_prefix(&prefix)?.parse().ok()?, seen.first()?.at_ms)))
        .collect();
    numbered.sort();
    numbered.into_iter().map(|(_, at)| at).collect()
}
