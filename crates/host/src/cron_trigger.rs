//! The cron trigger, as the `spin-trigger-cron` plugin runs it.
//!
//! Each `[[trigger.cron]]` fires its component's `handle-cron-event` on the
//! schedule (six or seven fields, seconds first, UTC), with
//! `metadata.timestamp` = the host clock's Unix seconds. As in the plugin
//! (whose scheduler spawns each firing as a task of its own), a firing does
//! not wait for the previous one: a slow invocation overlaps the next ones.
//! The schedule is read against the host clock, so advancing the clock moves
//! the schedule with it. Under a handler time limit (`limits/deadline.rs`) a
//! firing still running at the limit is killed, and reported as failed.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::app::{App, Trigger};
use crate::bindings::cron::fermyon::spin_cron::cron_types::{Error as CronError, Metadata};
use crate::manifest::CronTrigger;
use crate::tasks::until_stopped;

/// A parsed `[[trigger.cron]]`.
#[derive(Debug, Clone)]
pub(crate) struct CronSchedule {
    pub(crate) component: String,
    schedule: cron::Schedule,
}

impl CronSchedule {
    pub(crate) fn new(trigger: &CronTrigger) -> anyhow::Result<Self> {
        Ok(Self {
            component: trigger.component.clone(),
            schedule: parse_schedule(&trigger.cron_expression).with_context(|| {
                format!("cron_expression {:?} for component {:?}", trigger.cron_expression, trigger.component)
            })?,
        })
    }

    /// The first firing strictly after `now`.
    pub(crate) fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&now).next()
    }
}

/// Parses a six- or seven-field expression (sec min hour dom mon dow [year]).
pub(crate) fn parse_schedule(expr: &str) -> anyhow::Result<cron::Schedule> {
    let fields = expr.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        bail!("expected 6 or 7 fields (seconds first), found {fields}");
    }
    cron::Schedule::from_str(expr).map_err(|e| anyhow!("{e}"))
}

/// Fires `component`'s handler once now and waits for it.
pub(crate) async fn invoke(app: &App, component: &str) -> anyhow::Result<()> {
    let loaded = app.component(component)?;
    let pre = loaded.cron.as_ref().ok_or_else(|| anyhow!("component {component:?} has no [[trigger.cron]]"))?;

    let mut store = app.new_store(loaded, Trigger::Cron);
    let invocation = async {
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .with_context(|| format!("instantiating {component:?}"))?;
        let metadata = Metadata { timestamp: app.clock.now_unix_secs() };
        let result = instance
            .call_handle_cron_event(&mut store, metadata)
            .await
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cron handler of {component:?} trapped"))?;
        result.map_err(|CronError::Other(msg)| anyhow!("component {component:?} failed: {msg}"))
    };
    match app.handler_limit.run("cron", component, invocation).await {
        Some(outcome) => outcome,
        None => bail!("cron handler of {component:?} killed at the handler time limit"),
    }
}

/// Runs one trigger's schedule until `shutdown` turns true.
pub(crate) async fn run_schedule(app: Arc<App>, schedule: CronSchedule, mut shutdown: watch::Receiver<bool>) {
    loop {
        let now = host_now(&app);
        let Some(next) = schedule.next_after(now) else {
            // The expression has no future firing (a past year).
            return;
        };
        let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = until_stopped(&mut shutdown) => return,
        }
        let (fired, component) = (app.clone(), schedule.component.clone());
        app.tasks.spawn(async move {
            if let Err(e) = invoke(&fired, &component).await {
                eprintln!("hookah-host: cron: {e:#}");
            }
        });
    }
}

fn host_now(app: &App) -> DateTime<Utc> {
    let ms = i64::try_from(app.clock.now_unix_ms()).unwrap_or(i64::MAX);
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(expr: &str) -> anyhow::Result<CronSchedule> {
        CronSchedule::new(&CronTrigger { component: "c".into(), cron_expression: expr.into() })
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_five_seconds() {
        let s = schedule("*/5 * * * * *").unwrap();
        assert_eq!(s.next_after(at("2025-01-01T00:00:01Z")), Some(at("2025-01-01T00:00:05Z")));
        // Strictly after: a firing instant does not fire again.
        assert_eq!(s.next_after(at("2025-01-01T00:00:05Z")), Some(at("2025-01-01T00:00:10Z")));
    }

    #[test]
    fn seven_fields_with_year_and_named_fields() {
        let s = schedule("0 30 9 * * Mon 2030").unwrap();
        assert_eq!(s.next_after(at("2025-01-01T00:00:00Z")), Some(at("2030-01-07T09:30:00Z")));
        let past = schedule("0 0 0 1 1 * 2001").unwrap();
        assert_eq!(past.next_after(at("2025-01-01T00:00:00Z")), None);
    }

    #[test]
    fn rejects_wrong_field_counts_and_garbage() {
        for bad in ["* * * * *", "*/5 * * * * * * *", "", "x * * * * *", "61 * * * * *"] {
            assert!(schedule(bad).is_err(), "{bad:?}");
        }
    }
}
