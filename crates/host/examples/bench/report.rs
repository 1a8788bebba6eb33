//! A run's figures: one JSON line for scripts, then a short table for people. Both carry the
//! load average and the disk pressure before and after, since the machine is shared and
//! figures move with its load.

use serde_json::{json, Map, Value};
use std::io::Write as _;
use std::path::Path;

/// Cores this process may run on (0 when the system does not say).
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

pub(crate) struct Report {
    title: String,
    fields: Map<String, Value>,
    rows: Vec<(String, String)>,
}

impl Report {
    pub(crate) fn new(mode: &str, store: &str) -> Report {
        let mut fields = Map::new();
        fields.insert("mode".into(), json!(mode));
        fields.insert("store".into(), json!(store));
        fields.insert("cpus".into(), json!(cpus()));
        fields.insert("load_avg_before".into(), json!(load_average()));
        fields.insert("io_full_avg60_before".into(), json!(io_pressure_full_avg60()));
        Report { title: format!("{mode} on {store}"), fields, rows: Vec::new() }
    }

    /// A figure, shown with `decimals` decimals and its unit (`null`/`-` when there is none).
    pub(crate) fn num(&mut self, key: &str, value: Option<f64>, decimals: usize, unit: &str) {
        let value = value.filter(|v| v.is_finite());
        self.fields.insert(key.into(), value.map_or(Value::Null, |v| json!(round(v, decimals))));
        let shown = value.map_or("-".to_string(), |v| format!("{v:.decimals$} {unit}"));
        self.rows.push((key.replace('_', " "), shown.trim_end().to_string()));
    }

    pub(crate) fn count(&mut self, key: &str, value: usize) {
        self.fields.insert(key.into(), json!(value));
        self.rows.push((key.replace('_', " "), value.to_string()));
    }

    pub(crate) fn text(&mut self, key: &str, value: &str) {
        self.fields.insert(key.into(), json!(value));
        self.rows.push((key.replace('_', " "), value.to_string()));
    }

    /// Prints the JSON line and the table; appends the JSON line to `json_out` too when given.
    pub(crate) fn print(mut self, json_out: Option<&Path>) -> anyhow::Result<()> {
        let after = load_average();
        self.fields.insert("load_avg_after".into(), json!(after));
        self.fields.insert("io_full_avg60_after".into(), json!(io_pressure_full_avg60()));
        let line = Value::Object(self.fields.clone()).to_string();
        println!("{line}");
        if let Some(path) = json_out {
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            writeln!(file, "{line}")?;
        }
        let before = &self.fields["load_avg_before"];
        let io = (&self.fields["io_full_avg60_before"], &self.fields["io_full_avg60_after"]);
        println!(
            "{} (load average before {before}, after {}; disk stall % {} → {})",
            self.title,
            json!(after),
            io.0,
            io.1
        );
        let width = self.rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        for (label, shown) in &self.rows {
            println!("  {label:<width$}  {shown}");
        }
        Ok(())
    }
}

fn round(v: f64, decimals: usize) -> f64 {
    let scale = 10f64.powi(decimals as i32);
    (v * scale).round() / scale
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn load_average() -> Vec<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).filter_map(|n| n.parse().ok()).collect()
}

/// The share of the last minute (%) in which every task waited for the disk (Linux PSI); SQLite
/// commits wait for the disk, so its figures follow this.
pub(crate) fn io_pressure_full_avg60() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/pressure/io").ok()?;
    let full = text.lines().find(|line| line.starts_with("full"))?;
    full.split_whitespace().find_map(|field| field.strip_prefix("avg60="))?.parse().ok()
}
