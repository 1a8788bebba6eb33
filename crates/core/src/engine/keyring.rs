//! Managing signing keys, and choosing the keys that sign an attempt.

use super::fence::{self, Turn, Updated};
use super::slot_log::{Bounds, Direction, SlotLog};
use super::Hookah;
use crate::error::Error;
use crate::ids::{KeyId, ID_RANDOM_BYTES};
use crate::job::JobRecord;
use crate::keyring::{
    KeyRecord, Previous, Secret, UnusableKey, DEFAULT_GRACE_MS, KEY_RECORD_VERSION, MAX_GRACE_MS, MAX_KEYS,
};
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use crate::signing::{generate_ed25519_secret, generate_hmac_secret, SigningKey};
use serde::Deserialize;

/// `POST /_hookah/v1/keys` and `POST /_hookah/v1/keys/{id}/rotate` bodies.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub grace_seconds: Option<u64>,
}

impl KeyRequest {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        serde_json::from_slice(body).map_err(|e| Error::invalid("bad_json", format!("the body: {e}")))
    }

    /// How long a rotated-out secret keeps signing.
    pub fn grace_ms(&self) -> Result<u64, Error> {
        match self.grace_seconds {
            None => Ok(DEFAULT_GRACE_MS),
            Some(secs) if secs.saturating_mul(1000) <= MAX_GRACE_MS => Ok(secs * 1000),
            Some(_) => Err(Error::invalid("bad_key", "grace_seconds is at most 30 days")),
        }
    }
}

/// The key a path segment names; a segment not shaped like a key id is as unknown as a missing
/// key.
pub(crate) fn key_id(segment: &str) -> Result<KeyId, Error> {
    KeyId::parse(segment).ok_or_else(|| not_found(segment))
}

/// Pages of `MAX_KEYS` slots one listing reads at most (live keys plus dead history that
/// compaction has not yet removed).
const LIST_PAGES: usize = 4;

/// A signing key as read at `now`: which secrets sign, and until when, depends on the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub record: KeyRecord,
    /// Whether it signs jobs that name no key.
    pub is_default: bool,
    pub now: u64,
}

fn key_log() -> SlotLog<KeyId> {
    SlotLog::new(keys::key_log())
}

fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found(format!("no key {id}"))
}

/// Signing keys: `hookah.keyring()`.
pub struct Keyring<'h, K, T>(&'h Hookah<'h, K, T>);

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub fn keyring(&self) -> Keyring<'_, K, T> {
        Keyring(self)
    }
}

impl<K: Kv, T: Transport> Keyring<'_, K, T> {
    /// Creates a key; its secret is in the record (the answer shows it this once).
    pub fn create_key(&self, request: KeyRequest) -> Result<KeyState, Error> {
        let kind = request.kind.as_deref().unwrap_or("hmac");
        let secret = self.new_secret(kind, request.secret)?;
        let now = self.0.clock.now_ms();
        let mut random = [0u8; ID_RANDOM_BYTES];
        self.0.entropy.fill(&mut random);
        let record = KeyRecord {
            v: KEY_RECORD_VERSION,
            id: KeyId::from_random(&random),
            secret,
            created_at: now,
            rotated_at: None,
            previous: None,
            turn: 0,
            turn_mark: Default::default(),
        };
        let log = key_log();
        let Some(appended) = log.append_within(self.0.kv, std::slice::from_ref(&record.id), now, MAX_KEYS)? else {
            return Err(Error::conflict("too_many_keys", format!("at most {MAX_KEYS} keys can exist at once")));
        };
        // With no default yet (the first key, or the default was deleted), this key becomes it,
        // so deliveries are signed from then on.
        let is_default = request.default || self.0.default_key_id()?.is_none();
        let mut entries = appended.entries;
        entries.push(keys::signing_key(&record.id).entry(&record));
        if is_default {
            entries.push(keys::default_key().entry(record.id.as_str().as_bytes()));
        }
        if self.0.clock.now_ms() > appended.write_by {
            log.abandon(self.0.kv, 1)?;
            return Err(Error::storage("the key list slot expired before it was written"));
        }
        self.0.kv.set_many(entries)?;
        Ok(KeyState { record, is_default, now })
    }

    fn new_secret(&self, kind: &str, supplied: Option<String>) -> Result<Secret, Error> {
        let bad = |message: String| Error::invalid("bad_key", message);
        let secret = match (kind, supplied) {
            (_, Some(supplied)) => {
                let key = SigningKey::parse(&supplied).map_err(|e| bad(e.to_string()))?;
                let supplied_kind = if key.public_key().is_some() { "ed25519" } else { "hmac" };
                if supplied_kind != kind {
                    return Err(bad(format!("the supplied secret is an {supplied_kind} key, not {kind}")));
                }
                supplied
            }
            ("hmac", None) => {
                let mut random = [0u8; 32];
                self.0.entropy.fill(&mut random);
                generate_hmac_secret(&random).map_err(|e| bad(e.to_string()))?.expose_secret()
            }
            ("ed25519", None) => {
                let mut seed = [0u8; 32];
                self.0.entropy.fill(&mut seed);
                generate_ed25519_secret(&seed).expose_secret()
            }
            (other, None) => return Err(bad(format!("type must be hmac or ed25519, not `{other}`"))),
        };
        Ok(Secret::new(secret))
    }

    /// Every key, oldest first (at most `MAX_KEYS` exist; reads are capped all the same).
    pub fn list_keys(&self) -> Result<Vec<KeyState>, Error> {
        let log = key_log();
        let bounds = log.bounds(self.0.kv)?;
        let default = self.0.default_key_id()?;
        let now = self.0.clock.now_ms();
        let mut listed = Vec::new();
        let mut from = None;
        for _ in 0..LIST_PAGES {
            let page = log
                .page(self.0.kv, &bounds, Direction::OldestFirst, from, MAX_KEYS as usize, |ids| self.load_keys(ids))?;
            listed.extend(page.items.into_iter().map(|(_, record)| {
                let is_default = default.as_ref() == Some(&record.id);
                KeyState { record, is_default, now }
            }));
            match page.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        self.tidy_keys(&bounds)?;
        Ok(listed)
    }

    fn load_keys(&self, ids: &[KeyId]) -> Result<Vec<Option<KeyRecord>>, KvError> {
        self.0.kv.load_many(&ids.iter().map(keys::signing_key).collect::<Vec<_>>())
    }

    /// A compaction step of the key list when it carries much dead history.
    fn tidy_keys(&self, bounds: &Bounds) -> Result<(), KvError> {
        if !bounds.needs_tidy() {
            return Ok(());
        }
        let now = || self.0.clock.now_ms();
        key_log()
            .tidy(self.0.kv, bounds, &now, |ids| Ok(self.load_keys(ids)?.iter().map(Option::is_some).collect()))?;
        Ok(())
    }

    pub fn find_key(&self, id: &KeyId) -> Result<KeyState, Error> {
        let record = self.load_key(id)?.ok_or_else(|| not_found(id))?;
        let default = self.0.default_key_id()?;
        Ok(KeyState { is_default: default.as_ref() == Some(id), record, now: self.0.clock.now_ms() })
    }

    /// The public route: public keys of an ed25519 key, nothing for anything else.
    pub fn public_keys(&self, id: &KeyId) -> Result<Vec<String>, Error> {
        let record = self.load_key(id)?.filter(|r| r.kind() == "ed25519").ok_or_else(|| not_found(id))?;
        Ok(record.public_keys(self.0.clock.now_ms()))
    }

    /// Replaces the secret; the old one keeps signing beside it for the grace period. The new
    /// secret is in the record (the answer shows it this once).
    pub fn rotate_key(&self, id: &KeyId, request: KeyRequest) -> Result<KeyState, Error> {
        let grace_ms = request.grace_ms()?;
        let now = || self.0.clock.now_ms();
        let updated = fence::update(self.0.kv, &keys::signing_key(id), &now, |current: &KeyRecord, now| {
            let rotated = KeyRecord {
                secret: self.new_secret(current.kind(), request.secret.clone())?,
                rotated_at: Some(now),
                previous: Some(Previous { secret: current.secret.clone(), until: now + grace_ms }),
                ..current.clone()
            };
            Ok::<_, Error>(Some((rotated, Vec::new())))
        })?;
        match updated {
            Updated::Changed(rotated) => {
                let default = self.0.default_key_id()?;
                Ok(KeyState { is_default: default.as_ref() == Some(id), record: rotated, now: self.0.clock.now_ms() })
            }
            Updated::Unchanged(_) | Updated::Missing => Err(not_found(id)),
            Updated::Busy => Err(Error::Busy),
        }
    }

    /// Deletes the key; only the writer that wins the record's next turn counts it out of the list.
    pub fn delete_key(&self, id: &KeyId) -> Result<(), Error> {
        let read_at = self.0.clock.now_ms();
        let record = self.load_key(id)?.ok_or_else(|| not_found(id))?;
        let key = keys::signing_key(id);
        let turn = match fence::take_turn_of_existing(self.0.kv, &key, record.turn, read_at)? {
            Turn::Won(turn) => turn,
            Turn::Busy => return Err(Error::Busy),
            Turn::Gone => return Err(not_found(id)),
        };
        let mut doomed: Vec<String> = fence::turn_keys_of(&key, &record, turn).collect();
        doomed.push(key.into());
        if self.0.default_key_id()?.as_ref() == Some(id) {
            doomed.push(keys::default_key().into());
        }
        self.0.kv.delete_many(&doomed)?;
        key_log().removed(self.0.kv, 1)?;
        let bounds = key_log().bounds(self.0.kv)?;
        self.tidy_keys(&bounds).map_err(Error::from)
    }

    fn load_key(&self, id: &KeyId) -> Result<Option<KeyRecord>, Error> {
        self.0.kv.load(&keys::signing_key(id)).map_err(Error::from)
    }
}

// What accepting and attempting a job need of the keyring.
impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Checks a `Hookah-Signing-Key` names a key that exists.
    pub(crate) fn check_key_exists(&self, id: &KeyId) -> Result<(), Error> {
        match self.keyring().load_key(id)? {
            Some(_) => Ok(()),
            None => Err(Error::invalid("unknown_key", format!("no signing key {id}"))),
        }
    }

    /// The default key's id; text that is not a key id names no key, as no record is stored
    /// under it.
    fn default_key_id(&self) -> Result<Option<KeyId>, KvError> {
        Ok(self.kv.load(&keys::default_key())?.and_then(|id| KeyId::parse(std::str::from_utf8(&id).ok()?)))
    }

    /// The keys that sign an attempt of `job` now: its own key, else the `signing_secret`
    /// variable, else the stored default key; none when none exists (the delivery goes unsigned).
    /// A key that exists but cannot sign is `UnusableKey`: the attempt must not go out unsigned.
    pub(crate) fn keys_for(&self, job: &JobRecord, now: u64) -> Result<Result<Vec<SigningKey>, UnusableKey>, KvError> {
        let id = match (&job.signing_key, &self.config.signing_secret) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(secret)) => return Ok(Ok(SigningKey::parse(secret.expose()).into_iter().collect())),
            (None, None) => self.default_key_id()?,
        };
        let Some(id) = id else { return Ok(Ok(Vec::new())) };
        // Read raw first: a key whose record cannot be read must not look like no key at all.
        let key = keys::signing_key(&id);
        let Some(bytes) = self.kv.get(key.as_str())? else { return Ok(Ok(Vec::new())) };
        let unusable = |reason: String| UnusableKey { id: id.clone(), reason };
        Ok(match key.decode(Some(&bytes)) {
            Some(record) => record.try_signing_keys(now).map_err(|e| unusable(e.to_string())),
            None => Err(unusable("its stored record could not be read".into())),
        })
    }
}
