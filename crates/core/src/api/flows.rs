//! `/_hookah/v1/flows` and `/_hookah/v1/flows/{key}/…`: a flow's stored settings
//! (`engine/flow_settings.rs`). The key is one path segment, URL-encoded (`%2F` for a `/`).
//! `PUT` answers 201 when it stored settings for a key that had none, 200 when it replaced them.

use super::{only, views, ApiError, PageQuery, Reply};
use crate::encoding::path_decode;
use crate::engine::Hookah;
use crate::flows::{check_flow_key, parse_settings};
use crate::ports::{Kv, Transport};
use crate::request::Incoming;
use serde_json::json;

/// The flow key a path segment names, decoded and checked.
fn flow_key(segment: &str) -> Result<String, ApiError> {
    let key = path_decode(segment).ok_or_else(|| {
        ApiError::bad_request(
            "bad_flow_key",
            "the flow key in the path has a `%` without two hex digits, or is not UTF-8",
        )
    })?;
    check_flow_key(&key)?;
    Ok(key)
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub(super) fn flows_route(&self, incoming: &Incoming, query: &str, rest: &[&str]) -> Result<Reply, ApiError> {
        let method = incoming.method.to_ascii_uppercase();
        let flows = self.flows();
        match (rest, method.as_str()) {
            ([], "GET") => {
                let PageQuery { limit, cursor, .. } = PageQuery::parse(query, false)?;
                Ok(Reply::json(200, &views::flow_page(&flows.list(limit, cursor)?)))
            }
            ([], _) => Err(ApiError::method_not_allowed("GET")),
            ([key], "PUT") => {
                let key = flow_key(key)?;
                let stored = flows.put(&key, parse_settings(&incoming.body)?)?;
                Ok(Reply::json(if stored.created { 201 } else { 200 }, &views::flow(&stored.state)))
            }
            ([key], "GET") => Ok(Reply::json(200, &views::flow(&flows.get(&flow_key(key)?)?))),
            ([key], "DELETE") => {
                let key = flow_key(key)?;
                flows.delete(&key)?;
                Ok(Reply::json(200, &json!({ "key": key, "deleted": true })))
            }
            ([_], _) => Err(ApiError::method_not_allowed("GET, PUT, DELETE")),
            ([key, "pause"], _) => {
                only(incoming, "POST")?;
                Ok(Reply::json(200, &views::flow(&flows.set_paused(&flow_key(key)?, true)?)))
            }
            ([key, "resume"], _) => {
                only(incoming, "POST")?;
                Ok(Reply::json(200, &views::flow(&flows.set_paused(&flow_key(key)?, false)?)))
            }
            _ => Err(ApiError::not_found("no such flow route")),
        }
    }
}
