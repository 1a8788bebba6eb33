//! `/_hookah/v1/keys`: creating, reading, rotating and deleting signing keys.

use super::ApiError;
use super::{only, views, Reply};
use crate::engine::{key_id, Hookah, KeyRequest};
use crate::ports::{Kv, Transport};
use crate::request::Incoming;
use serde_json::json;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub(super) fn keys_route(&self, incoming: &Incoming, rest: &[&str]) -> Result<Reply, ApiError> {
        let method = incoming.method.to_ascii_uppercase();
        let keyring = self.keyring();
        match (rest, method.as_str()) {
            ([], "POST") => {
                Ok(Reply::json(201, &views::key_with_secret(&keyring.create_key(KeyRequest::parse(&incoming.body)?)?)))
            }
            ([], "GET") => {
                let listed: Vec<_> = keyring.list_keys()?.iter().map(views::key).collect();
                Ok(Reply::json(200, &json!({ "data": listed })))
            }
            ([], _) => Err(ApiError::method_not_allowed("GET, POST")),
            ([id], "GET") => Ok(Reply::json(200, &views::key(&keyring.find_key(&key_id(id)?)?))),
            ([id], "DELETE") => {
                keyring.delete_key(&key_id(id)?)?;
                Ok(Reply::json(200, &json!({ "id": id, "deleted": true })))
            }
            ([_], _) => Err(ApiError::method_not_allowed("GET, DELETE")),
            ([id, "rotate"], _) => {
                only(incoming, "POST")?;
                let request = KeyRequest::parse(&incoming.body)?;
                // A bad grace period is a 400 even for a key that is not there.
                request.grace_ms()?;
                Ok(Reply::json(200, &views::key_with_secret(&keyring.rotate_key(&key_id(id)?, request)?)))
            }
            _ => Err(ApiError::not_found("no such key route")),
        }
    }
}
