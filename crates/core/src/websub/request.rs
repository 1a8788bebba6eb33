//! The hub endpoint's request (WebSub §5.1, §6): subscribe, unsubscribe or publish, read from the
//! decoded form.

use std::fmt;

use super::params::{bad, check_url, required_url, single};
use crate::error::Error;

/// §5.1: `hub.secret` "MUST be less than 200 bytes in length".
pub const MAX_SECRET_BYTES: usize = 199;

/// What a POST to the hub asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubRequest {
    Subscribe(Subscription),
    Unsubscribe(Subscription),
    /// WebSub leaves publishing to the hub; this is the PubSubHubbub ping most hubs accept.
    Publish {
        topic: String,
    },
}

/// A (un)subscription as asked, before lease policy and intent verification.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscription {
    pub callback: String,
    pub topic: String,
    /// As requested; the hub's [`LeasePolicy`](super::LeasePolicy) decides what is granted.
    /// Always `None` for an unsubscription, whose lease §5.1 says the hub must ignore.
    pub lease_seconds: Option<u64>,
    /// The key for `X-Hub-Signature`. Always `None` for an unsubscription: nothing is signed.
    pub secret: Option<String>,
}

/// Written by hand so that the secret never reaches a log.
impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("callback", &self.callback)
            .field("topic", &self.topic)
            .field("lease_seconds", &self.lease_seconds)
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Reads a hub request from form pairs. Names the hub doesn't know are ignored (§5.1 "MUST
/// ignore"); the ones it uses may appear only once.
pub fn parse_hub_request(form: &[(String, String)]) -> Result<HubRequest, Error> {
    match single(form, "hub.mode")? {
        Some("subscribe") => Ok(HubRequest::Subscribe(subscription(form, true)?)),
        Some("unsubscribe") => Ok(HubRequest::Unsubscribe(subscription(form, false)?)),
        Some("publish") => publish(form),
        Some(other) => Err(bad(format!("hub.mode `{other}` is not subscribe, unsubscribe or publish"))),
        None => Err(bad("hub.mode is required")),
    }
}

fn subscription(form: &[(String, String)], subscribe: bool) -> Result<Subscription, Error> {
    let callback = required_url(form, "hub.callback")?;
    let topic = required_url(form, "hub.topic")?;
    if !subscribe {
        // Not even validated: a hub that must ignore a parameter shouldn't refuse over it.
        return Ok(Subscription { callback, topic, lease_seconds: None, secret: None });
    }
    Ok(Subscription {
        callback,
        topic,
        lease_seconds: lease(single(form, "hub.lease_seconds")?)?,
        secret: secret(form)?,
    })
}

/// §5.1 asks for "a positive decimal integer". An empty value is read as "not asked" (it only
/// picks the default); a number too large for u64 saturates, since the policy clamps it anyway.
fn lease(value: Option<&str>) -> Result<Option<u64>, Error> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => match v.parse::<u64>().unwrap_or(u64::MAX) {
            0 => Err(bad("hub.lease_seconds must be positive")),
            n => Ok(Some(n)),
        },
        Some(v) => Err(bad(format!("hub.lease_seconds `{v}` is not a positive whole number"))),
    }
}

/// The secret is accepted whatever the callback's scheme. §5.1's "SHOULD only be specified when
/// the request was made over HTTPS" is about the subscription request reaching the hub, which the
/// adapter sees and this parser doesn't; and §7.1.2 names a secret with a plain-http callback as
/// the intended way for subscribers without TLS to get authenticated deliveries.
fn secret(form: &[(String, String)]) -> Result<Option<String>, Error> {
    match single(form, "hub.secret")? {
        None => Ok(None),
        // Dropping it would silently turn signed deliveries into unsigned ones.
        Some("") => Err(bad("hub.secret is empty; send a secret or leave the parameter out")),
        Some(s) if s.len() > MAX_SECRET_BYTES => {
            Err(bad(format!("hub.secret must be under 200 bytes, this one has {}", s.len())))
        }
        Some(s) => Ok(Some(s.to_string())),
    }
}

/// PubSubHubbub pings name the topic in `hub.url`; `hub.topic` is taken too since it is the name
/// WebSub uses everywhere else. One topic a ping: several `hub.url`s are refused, not half-done.
fn publish(form: &[(String, String)]) -> Result<HubRequest, Error> {
    let (name, topic) = match (single(form, "hub.url")?, single(form, "hub.topic")?) {
        (Some(url), Some(topic)) if url != topic => return Err(bad("hub.url and hub.topic name different topics")),
        (Some(url), _) => ("hub.url", url),
        (None, Some(topic)) => ("hub.topic", topic),
        (None, None) => return Err(bad("publish needs hub.url (or hub.topic)")),
    };
    check_url(name, topic)?;
    Ok(HubRequest::Publish { topic: topic.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websub::parse_form;

    const CB: &str = "hub.callback=https%3A%2F%2Fsub.example%2Fcb%3Fid%3D7";
    const TOPIC: &str = "hub.topic=http%3A%2F%2Fpub.example%2Ffeed";

    fn check(body: &str, expected: Result<HubRequest, ()>) {
        let form = parse_form(body.as_bytes()).unwrap();
        let parsed = parse_hub_request(&form)
            .map_err(|e| assert!(matches!(e, Error::Invalid { code: "bad_hub_request", .. }), "{e}"));
        assert_eq!(parsed, expected, "{body}");
    }

    fn sub(lease_seconds: Option<u64>, secret: Option<&str>) -> Subscription {
        Subscription {
            callback: "https://sub.example/cb?id=7".into(),
            topic: "http://pub.example/feed".into(),
            lease_seconds,
            secret: secret.map(String::from),
        }
    }

    #[test]
    fn modes() {
        check(&format!("hub.mode=subscribe&{CB}&{TOPIC}"), Ok(HubRequest::Subscribe(sub(None, None))));
        check(&format!("{TOPIC}&hub.mode=unsubscribe&{CB}&x.extra=1"), Ok(HubRequest::Unsubscribe(sub(None, None))));
        check(&format!("{CB}&{TOPIC}"), Err(()));
        check(&format!("hub.mode=Subscribe&{CB}&{TOPIC}"), Err(()));
        check(&format!("hub.mode=denied&{CB}&{TOPIC}"), Err(()));
        check(&format!("hub.mode=subscribe&hub.mode=unsubscribe&{CB}&{TOPIC}"), Err(()));
    }

    #[test]
    fn urls() {
        check(&format!("hub.mode=subscribe&{TOPIC}"), Err(()));
        check(&format!("hub.mode=subscribe&{CB}"), Err(()));
        check(&format!("hub.mode=subscribe&{CB}&{TOPIC}&{TOPIC}"), Err(()));
        check(&format!("hub.mode=subscribe&{TOPIC}&hub.callback=ftp%3A%2F%2Fsub.example%2F"), Err(()));
        check(&format!("hub.mode=subscribe&{CB}&hub.topic=%2Ffeed"), Err(()));
    }

    #[test]
    fn leases_and_secrets() {
        let subscribe = |extra: &str| format!("hub.mode=subscribe&{CB}&{TOPIC}&{extra}");
        let ok = |lease, secret| Ok(HubRequest::Subscribe(sub(lease, secret)));
        check(&subscribe("hub.lease_seconds=3600"), ok(Some(3600), None));
        check(&subscribe("hub.lease_seconds=007"), ok(Some(7), None));
        check(&subscribe("hub.lease_seconds="), ok(None, None));
        check(&subscribe("hub.lease_seconds=99999999999999999999999"), ok(Some(u64::MAX), None));
        check(&subscribe("hub.lease_seconds=0"), Err(()));
        check(&subscribe("hub.lease_seconds=-5"), Err(()));
        check(&subscribe("hub.lease_seconds=%2B5"), Err(()));
        check(&subscribe("hub.lease_seconds=1.5"), Err(()));
        check(&subscribe("hub.lease_seconds=1&hub.lease_seconds=2"), Err(()));
        check(&subscribe("hub.secret=s3cr%C3%A9t"), ok(None, Some("s3crét")));
        check(&subscribe(&format!("hub.secret={}", "x".repeat(199))), ok(None, Some(&"x".repeat(199))));
        check(&subscribe(&format!("hub.secret={}", "x".repeat(200))), Err(()));
        check(&subscribe("hub.secret="), Err(()));
        // An unsubscription ignores both, even malformed (§5.1).
        let unsubscribe = format!("hub.mode=unsubscribe&{CB}&{TOPIC}&hub.lease_seconds=x&hub.secret=");
        check(&unsubscribe, Ok(HubRequest::Unsubscribe(sub(None, None))));
        // Over a plain-http callback too: see `secret` for why.
        let http = format!("hub.mode=subscribe&hub.callback=http%3A%2F%2Fs.example%2F&{TOPIC}&hub.secret=k");
        let expected = Subscription { callback: "http://s.example/".into(), ..sub(None, Some("k")) };
        check(&http, Ok(HubRequest::Subscribe(expected)));
    }

    #[test]
    fn publish() {
        let ok = Ok(HubRequest::Publish { topic: "https://pub.example/feed".into() });
        check("hub.mode=publish&hub.url=https%3A%2F%2Fpub.example%2Ffeed", ok.clone());
        check("hub.mode=publish&hub.topic=https%3A%2F%2Fpub.example%2Ffeed", ok.clone());
        check("hub.mode=publish&hub.url=https://pub.example/feed&hub.topic=https://pub.example/feed", ok);
        check("hub.mode=publish&hub.url=https://a.example/&hub.topic=https://b.example/", Err(()));
        check("hub.mode=publish&hub.url=https://a.example/&hub.url=https://b.example/", Err(()));
        check("hub.mode=publish", Err(()));
        check("hub.mode=publish&hub.url=feed.xml", Err(()));
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", sub(None, Some("hunter2")));
        assert!(shown.contains("[REDACTED]") && !shown.contains("hunter2"), "{shown}");
    }
}
