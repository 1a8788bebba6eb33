//! `/_hookah/v1/keys`: creating, reading, rotating and deleting signing keys.

use super::{only, Reply};
use crate::engine::{Hookah, KeyRequest};
use crate::error::ApiError;
use crate::ports::{Kv, Transport};
use crate::request::Incoming;
use serde_json::json;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub(super) fn keys_route(&self, incoming: &Incoming, rest: &[&str]) -> Result<Reply, ApiError> {
        let method = incoming.method.to_ascii_uppercase();
        match (rest, method.as_str()) {
            ([], "POST") => Ok(Reply::json(201, &self.create_key(KeyRequest::parse(&incoming.body)?)?)),
            ([], "GET") => Ok(Reply::json(200, &json!({ "data": self.list_keys()? }))),
            ([], _) => Err(ApiError::method_not_allowed("GET, POST")),
            ([id], "GET") => Ok(Reply::json(200, &self.key_view(id)?)),
            ([id], "DELETE") => {
                self.delete_key(id)?;
                Ok(Reply::json(200, &json!({ "id": id, "deleted": true })))
            }
            ([_], _) => Err(ApiError::method_not_allowed("GET, DELETE")),
            ([id, "rotate"], _) => {
                only(incoming, "POST")?;
                Ok(Reply::json(200, &self.rotate_key(id, KeyRequest::parse(&incoming.body)?)?))
            }
            _ => Err(ApiError::not_found("no such key route")),
        }
    }
}
