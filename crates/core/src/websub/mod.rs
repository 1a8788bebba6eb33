//! The pure half of a W3C WebSub hub (Recommendation, 2018): reading subscribe, unsubscribe and
//! publish requests, granting leases, building the verification and denial GETs and judging the
//! answer, and the headers of a distribution. Storing subscriptions, sending requests and
//! deeper URL policy (addresses, SSRF) belong to the caller.
//!
//! - `form`: `application/x-www-form-urlencoded` in and out.
//! - `request`: `hub.mode` and its parameters (with `params`: single values, URL shape).
//! - `lease`: the lease policy, as data.
//! - `verify`: intent verification and denial (§5.2, §5.3).
//! - `signature`: `X-Hub-Signature` and `Link` (§7).

pub mod form;
pub mod lease;
mod params;
pub mod request;
pub mod signature;
pub mod verify;

#[cfg(test)]
mod proptests;

pub use form::{encode_query, parse_form};
pub use lease::{LeasePolicy, DEFAULT_LEASE_SECS, MAX_LEASE_SECS, MIN_LEASE_SECS};
pub use request::{parse_hub_request, HubRequest, Subscription, MAX_SECRET_BYTES};
pub use signature::{link_header, x_hub_signature, X_HUB_SIGNATURE};
pub use verify::{append_query, challenge_echoed, denial_query, verification_query};
