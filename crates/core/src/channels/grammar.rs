//! Names: channels, event types and event-type filters.
//!
//! - A channel name is 1–64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
//!   Names starting with `hookah.` are reserved (`hookah.ops` carries Hookah's own events).
//! - An event type is 1–128 characters: dot-separated segments of `A-Z a-z 0-9 _ -`.
//! - A filter is an event type, or one whose last segment is `*`: `invoice.*` matches
//!   `invoice.paid` and `invoice.paid.late`, not `invoice`; a lone `*` matches everything.

use crate::error::Error;

pub const OPS_CHANNEL: &str = "hookah.ops";
pub const MAX_EVENT_TYPES: usize = 32;

pub fn check_channel(name: &str) -> Result<(), Error> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(Error::invalid("bad_channel", format!("`{name}` is not a channel name (1-64 of a-z 0-9 . _ -)")))
    }
}

/// Channels callers may create subscriptions in and publish to.
pub fn check_public_channel(name: &str) -> Result<(), Error> {
    check_channel(name)?;
    if name.starts_with("hookah.") && name != OPS_CHANNEL {
        return Err(Error::invalid("bad_channel", "channel names starting with hookah. are reserved"));
    }
    Ok(())
}

/// Channels the app may publish to and configure: every public one but `hookah.ops`, whose
/// events subscribers trust as Hookah's own (anyone may still subscribe to it).
pub fn check_app_channel(name: &str) -> Result<(), Error> {
    check_public_channel(name)?;
    if name == OPS_CHANNEL {
        return Err(Error::Forbidden {
            code: "reserved_channel",
            message: "only Hookah publishes to hookah.ops or changes its settings; subscribing to it is allowed".into(),
        });
    }
    Ok(())
}

fn valid_segments(text: &str) -> bool {
    text.split('.').all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b)))
}

pub fn check_event_type(event_type: &str) -> Result<(), Error> {
    if (1..=128).contains(&event_type.len()) && valid_segments(event_type) {
        Ok(())
    } else {
        Err(Error::invalid("bad_event_type", format!("`{event_type}` is not an event type")))
    }
}

pub fn check_filter(filter: &str) -> Result<(), Error> {
    let prefix_ok = match filter.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => prefix.strip_suffix('.').is_some_and(valid_segments),
        None => valid_segments(filter),
    };
    if (1..=128).contains(&filter.len()) && prefix_ok {
        Ok(())
    } else {
        Err(Error::invalid("bad_event_type", format!("`{filter}` is not an event type filter")))
    }
}

/// Whether `event_type` passes `filters`; no filters means every type.
pub fn matches_any(filters: &[String], event_type: &str) -> bool {
    filters.is_empty() || filters.iter().any(|filter| matches(filter, event_type))
}

pub fn matches(filter: &str, event_type: &str) -> bool {
    match filter.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => event_type.len() > prefix.len() && event_type.starts_with(prefix),
        None => filter == event_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(filter: &str, event_type: &str, expected: bool) {
        assert_eq!(matches(filter, event_type), expected, "{filter} ~ {event_type}");
    }

    #[test]
    fn filters() {
        check("invoice.paid", "invoice.paid", true);
        check("invoice.paid", "invoice.paid.late", false);
        check("invoice.*", "invoice.paid", true);
        check("invoice.*", "invoice.paid.late", true);
        check("invoice.*", "invoice", false);
        check("invoice.*", "invoices.paid", false);
        check("*", "anything.at.all", true);
        assert!(matches_any(&[], "x"));
        assert!(!matches_any(&["a.*".into()], "b.c"));
    }

    #[test]
    fn grammar() {
        for ok in ["orders", "orders.eu-1", "0x_a"] {
            assert!(check_channel(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Orders", ".x", "-x", "a/b", &"a".repeat(65)] {
            assert!(check_channel(bad).is_err(), "{bad}");
        }
        assert!(check_public_channel("hookah.internal").is_err());
        assert!(check_public_channel(OPS_CHANNEL).is_ok());
        let reserved = check_app_channel(OPS_CHANNEL).unwrap_err();
        assert!(matches!(reserved, Error::Forbidden { code: "reserved_channel", .. }), "{reserved:?}");
        assert!(check_app_channel("orders").is_ok());
        for ok in ["invoice.paid", "a", "A_b-c.d"] {
            assert!(check_event_type(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*"] {
            assert!(check_event_type(bad).is_err(), "{bad}");
        }
        for ok in ["*", "invoice.*", "invoice.paid"] {
            assert!(check_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["invoice*", "*.paid", "in*.x", "a..*", ""] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
    }
}
