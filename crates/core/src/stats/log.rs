//! The facts behind Hookah's structured log lines: one per attempt, one per sweep. The core
//! builds the lines; the components print them. Lines never hold bodies, headers or secrets.

use super::hosts::host_of;
use super::record::error_text;
use crate::ids::JobId;
use crate::job::view::rfc3339;
use crate::job::JobRecord;
use serde::Serialize;
use serde_json::{json, Value};

/// One attempt, as the job record says after its outcome was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptLog {
    pub at: u64,
    pub job: JobId,
    pub target_host: String,
    /// The attempt's number in the job's log, from 1.
    pub attempt: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The job's state after the attempt.
    pub state: &'static str,
}

impl AttemptLog {
    /// The last attempt of a record that just recorded one.
    pub fn of(record: &JobRecord) -> Option<AttemptLog> {
        let attempt = record.attempts.last()?;
        Some(AttemptLog {
            at: attempt.at,
            job: record.id.clone(),
            target_host: host_of(&record.url),
            attempt: record.attempts.len(),
            status: attempt.status,
            error: attempt.status.is_none().then(|| error_text(attempt)),
            duration_ms: attempt.duration_ms,
            state: crate::job::view::public_state(&record.state),
        })
    }

    pub fn line(&self) -> String {
        let mut value = json!({ "time": rfc3339(self.at), "event": "attempt" });
        if let (Value::Object(line), Ok(Value::Object(fields))) = (&mut value, serde_json::to_value(self)) {
            line.extend(fields);
        }
        value.to_string()
    }
}

/// One sweep's line: its report (which holds its lag), at `now`.
pub fn sweep_line(report: &impl Serialize, now: u64) -> String {
    let mut value = json!({ "time": rfc3339(now), "event": "sweep" });
    if let (Value::Object(line), Ok(Value::Object(fields))) = (&mut value, serde_json::to_value(report)) {
        line.extend(fields);
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Attempt, State};

    #[test]
    fn an_attempt_line_names_no_secrets() {
        let record = JobRecord {
            url: "https://user:secret@receiver.test/hook?token=x".into(),
            headers: vec![("authorization".into(), "Bearer hidden".into())],
            state: State::Dead { at: 5 },
            attempts: vec![Attempt { at: 0, duration_ms: 7, status: Some(503), error: None, message: None }],
            ..JobRecord::new(crate::ids::JobId::from_random(&[1; 16]))
        };
        let line = AttemptLog::of(&record).unwrap().line();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["target_host"], "receiver.test");
        assert_eq!(value["status"], 503);
        assert_eq!(value["attempt"], 1);
        assert_eq!(value["event"], "attempt");
        assert!(!line.contains("secret") && !line.contains("hidden") && !line.contains("token"), "{line}");
    }
}
