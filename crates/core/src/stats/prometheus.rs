//! The Prometheus text exposition format (0.0.4) of a [`Snapshot`].

use super::latency::BOUNDS_MS;
use super::Snapshot;
use std::fmt::Write;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.0, "{name}");
        if !labels.is_empty() {
            let inner: Vec<String> =
                labels.iter().map(|(label, value)| format!("{label}=\"{}\"", escape(value))).collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

pub fn render(snapshot: &Snapshot) -> String {
    let stats = &snapshot.stats;
    let mut out = Exposition(String::new());
    out.family(
        "hookah_jobs",
        "gauge",
        "Jobs by state (finished ones while retained; open ones from the pending list).",
    );
    out.sample("hookah_jobs", &[("state", "pending")], snapshot.open.pending);
    out.sample("hookah_jobs", &[("state", "in_flight")], snapshot.open.in_flight);
    for state in ["delivered", "dead", "gone", "cancelled"] {
        out.sample("hookah_jobs", &[("state", state)], snapshot.finished(state));
    }
    out.family("hookah_due_slots", "gauge", "Timer slots that are due and not yet handled by a sweep.");
    out.sample("hookah_due_slots", &[], snapshot.backlog.due_slots);
    out.family("hookah_sweep_lag_seconds", "gauge", "How long the oldest due timer slot has waited.");
    out.sample("hookah_sweep_lag_seconds", &[], seconds(snapshot.backlog.lag_ms(snapshot.now)));
    out.family("hookah_last_sweep_timestamp_seconds", "gauge", "When the last sweep decided (Unix seconds).");
    out.sample("hookah_last_sweep_timestamp_seconds", &[], seconds(stats.last_sweep.at));
    out.family("hookah_sweeps_total", "counter", "Sweeps that walked the timer index.");
    out.sample("hookah_sweeps_total", &[], stats.sweeps_total);
    out.family("hookah_attempts_total", "counter", "Delivery attempts counted by sweeps, by outcome.");
    out.sample("hookah_attempts_total", &[("outcome", "delivered")], stats.delivered_total);
    out.sample("hookah_attempts_total", &[("outcome", "failed")], stats.failed_total);
    out.family(
        "hookah_target_host_failures",
        "gauge",
        "Failed attempts of the worst target hosts (a bounded list; a host leaves it an hour after its last failure).",
    );
    for host in &stats.hosts {
        out.sample("hookah_target_host_failures", &[("target_host", &host.host)], host.failures);
    }
    out.family(
        "hookah_target_host_last_failure_timestamp_seconds",
        "gauge",
        "When each listed target host last failed (Unix seconds).",
    );
    for host in &stats.hosts {
        out.sample(
            "hookah_target_host_last_failure_timestamp_seconds",
            &[("target_host", &host.host)],
            seconds(host.last_at),
        );
    }
    out.family("hookah_flow_waiting", "gauge", "Jobs waiting in the queue of each flow with stored settings.");
    for flow in &snapshot.flows {
        out.sample("hookah_flow_waiting", &[("flow", &flow.key)], flow.waiting);
    }
    out.family("hookah_flow_in_flight", "gauge", "Attempts in flight of each flow with stored settings.");
    for flow in &snapshot.flows {
        out.sample("hookah_flow_in_flight", &[("flow", &flow.key)], flow.in_flight);
    }
    let name = "hookah_first_attempt_latency_seconds";
    out.family(name, "histogram", "Time from accepting a job to its first attempt.");
    let mut cumulative = 0;
    for (i, bound) in BOUNDS_MS.iter().enumerate() {
        cumulative += stats.latency_counts.get(i).copied().unwrap_or(0);
        out.sample(&format!("{name}_bucket"), &[("le", &seconds(*bound).to_string())], cumulative);
    }
    let count: u64 = stats.latency_counts.iter().sum();
    out.sample(&format!("{name}_bucket"), &[("le", "+Inf")], count);
    out.sample(&format!("{name}_sum"), &[], seconds(stats.latency_sum_ms));
    out.sample(&format!("{name}_count"), &[], count);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::hosts::FailingHost;

    #[test]
    fn labels_are_escaped_and_families_typed() {
        let mut snapshot = Snapshot::default();
        snapshot.stats.hosts.push(FailingHost {
            host: "we\"ird\\host".into(),
            failures: 3,
            last_error: "HTTP 500".into(),
            last_at: 1_500,
        });
        snapshot.flows.push(crate::stats::FlowStat { key: "tenant \"7\"".into(), waiting: 4, ..Default::default() });
        let text = render(&snapshot);
        assert!(text.contains("hookah_target_host_failures{target_host=\"we\\\"ird\\\\host\"} 3\n"), "{text}");
        assert!(text.contains("hookah_flow_waiting{flow=\"tenant \\\"7\\\"\"} 4\n"), "{text}");
        assert!(text.contains("hookah_flow_in_flight{flow=\"tenant \\\"7\\\"\"} 0\n"), "{text}");
        assert!(text.contains("# TYPE hookah_first_attempt_latency_seconds histogram\n"));
        assert!(text.contains("hookah_first_attempt_latency_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(text.contains("hookah_first_attempt_latency_seconds_bucket{le=\"0.01\"} 0\n"));
    }
}
