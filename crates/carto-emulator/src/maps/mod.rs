//! The Maps API's state (Windshaft's Redis, kept in memory for the emulator's run): named
//! map templates per user, and instantiated layergroups keyed by user and layergroup id,
//! each kept for [`LAYERGROUP_TTL`] after its last use. Nothing survives a restart: clients
//! instantiate again, as they do when CARTO expires a layergroup.
//!
//! [`mvt`] builds the tile SQL.

pub(crate) mod mvt;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use carto_maps::{MapConfig, TemplateAuth};
use serde_json::Value;

/// How long a layergroup lives after its last use (Windshaft's `mapConfigTTL`).
pub(crate) const LAYERGROUP_TTL: Duration = Duration::from_secs(7200);

/// The most a user's layergroups may weigh (their MapConfigs' JSON) in memory: past it, the
/// least recently used go first. A flood of anonymous instantiations (which any request may
/// make, with the Default public key) cannot grow the emulator's memory without bound.
pub(crate) const MAX_LAYERGROUP_BYTES_PER_USER: usize = 32 * 1024 * 1024;

/// How many templates a user may have (CARTO's limit).
pub(crate) const MAX_TEMPLATES: usize = 4096;

/// An instantiated layergroup.
#[derive(Debug, Clone)]
pub(crate) struct Layergroup {
    /// The MapConfig (a named map's with its placeholders substituted).
    pub config: MapConfig,
    /// For a named map's instance: its template's name and authentication (a copy: the
    /// instance keeps working, with the same tokens, after the template changes or goes).
    pub template: Option<(String, TemplateAuth)>,
}

struct Stored {
    group: Layergroup,
    expires: Instant,
    /// The MapConfig's JSON size.
    bytes: usize,
    /// When it was last used, on [`MapsState::tick`]'s clock.
    used: u64,
}

/// Templates and layergroups of every user.
#[derive(Default)]
pub(crate) struct MapsState {
    templates: Mutex<HashMap<String, BTreeMap<String, Value>>>,
    layergroups: Mutex<HashMap<String, HashMap<String, Stored>>>,
    /// A clock of uses, for the least recently used layergroup.
    tick: std::sync::atomic::AtomicU64,
}

/// Why a template could not be stored.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TemplateError {
    /// A template of that name exists (create).
    Exists,
    /// No template of that name (update, delete).
    Missing,
    /// The user has [`MAX_TEMPLATES`] already.
    Limit,
}

impl MapsState {
    /// The names of `user`'s templates, sorted.
    pub(crate) fn template_names(&self, user: &str) -> Vec<String> {
        self.lock_templates()
            .get(user)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// `user`'s template `name`, as stored.
    pub(crate) fn template(&self, user: &str, name: &str) -> Option<Value> {
        self.lock_templates().get(user)?.get(name).cloned()
    }

    /// Stores a new template.
    pub(crate) fn create_template(
        &self,
        user: &str,
        name: &str,
        template: Value,
    ) -> Result<(), TemplateError> {
        let mut all = self.lock_templates();
        let mine = all.entry(user.to_owned()).or_default();
        if mine.contains_key(name) {
            return Err(TemplateError::Exists);
        }
        if mine.len() >= MAX_TEMPLATES {
            return Err(TemplateError::Limit);
        }
        mine.insert(name.to_owned(), template);
        Ok(())
    }

    /// Replaces an existing template.
    pub(crate) fn update_template(
        &self,
        user: &str,
        name: &str,
        template: Value,
    ) -> Result<(), TemplateError> {
        let mut all = self.lock_templates();
        match all.get_mut(user).and_then(|t| t.get_mut(name)) {
            Some(slot) => {
                *slot = template;
                Ok(())
            }
            None => Err(TemplateError::Missing),
        }
    }

    /// Removes a template (its instances keep working).
    pub(crate) fn delete_template(&self, user: &str, name: &str) -> Result<(), TemplateError> {
        let mut all = self.lock_templates();
        match all.get_mut(user).and_then(|t| t.remove(name)) {
            Some(_) => Ok(()),
            None => Err(TemplateError::Missing),
        }
    }

    /// Keeps a layergroup of `user` under `id`: expired ones are dropped on the way, and
    /// the user's least recently used ones while the user's layergroups weigh more than
    /// [`MAX_LAYERGROUP_BYTES_PER_USER`] (the new one stays).
    pub(crate) fn put_layergroup(&self, user: &str, id: &str, group: Layergroup) {
        let now = Instant::now();
        let bytes = serde_json::to_vec(&group.config).map_or(0, |v| v.len());
        let mut all = self.lock_layergroups();
        for groups in all.values_mut() {
            groups.retain(|_, s| s.expires > now);
        }
        all.retain(|_, groups| !groups.is_empty());
        let mine = all.entry(user.to_owned()).or_default();
        mine.insert(
            id.to_owned(),
            Stored {
                group,
                expires: now + LAYERGROUP_TTL,
                bytes,
                used: self.next_tick(),
            },
        );
        let mut total: usize = mine.values().map(|s| s.bytes).sum();
        while total > MAX_LAYERGROUP_BYTES_PER_USER && mine.len() > 1 {
            let Some(oldest) = mine
                .iter()
                .filter(|(k, _)| k.as_str() != id)
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = mine.remove(&oldest) {
                total -= gone.bytes;
            }
        }
    }

    /// `user`'s layergroup `id`, its lifetime renewed; `None` when unknown or expired (a
    /// layergroup of another user is unknown here).
    pub(crate) fn layergroup(&self, user: &str, id: &str) -> Option<Layergroup> {
        let now = Instant::now();
        let mut all = self.lock_layergroups();
        let mine = all.get_mut(user)?;
        let stored = mine.get_mut(id)?;
        if stored.expires <= now {
            mine.remove(id);
            return None;
        }
        stored.expires = now + LAYERGROUP_TTL;
        stored.used = self.next_tick();
        Some(stored.group.clone())
    }

    fn next_tick(&self) -> u64 {
        self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn lock_templates(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, Value>>> {
        self.templates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_layergroups(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Stored>>> {
        self.layergroups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The layergroup id of `user`'s anonymous map `config` (`<md5>:<cache buster>`; the cache
/// buster is 0: the emulator does not track table updates).
pub(crate) fn anonymous_id(user: &str, config: &MapConfig) -> String {
    format!("{}:0", config_hash(user, config))
}

/// The layergroup id of an instance of `user`'s template: `user@<template hash>@<md5>:0`.
pub(crate) fn named_id(user: &str, template: &Value, config: &MapConfig) -> String {
    let template_hash = md5_hex(template.to_string().as_bytes());
    format!(
        "{user}@{}@{}:0",
        &template_hash[..8],
        config_hash(user, config)
    )
}

/// The md5 of the MapConfig and the user's database (as Windshaft hashes the MapConfig with
/// its database parameters), hex.
fn config_hash(user: &str, config: &MapConfig) -> String {
    let text = serde_json::json!({"user": user, "config": config}).to_string();
    md5_hex(text.as_bytes())
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use carto_maps::Layer;

    #[test]
    fn ids_are_per_user_and_config() {
        let config = MapConfig::new([Layer::vector("select 1")]);
        let a = anonymous_id("alice", &config);
        assert_eq!(a.len(), 34);
        assert!(a.ends_with(":0"));
        assert_ne!(a, anonymous_id("bob", &config));
        let n = named_id("alice", &serde_json::json!({"name": "t"}), &config);
        assert!(n.starts_with("alice@") && n.ends_with(":0"));
        assert_eq!(n.split('@').nth(1).unwrap().len(), 8);
    }

    #[test]
    fn layergroups_are_per_user() {
        let state = MapsState::default();
        let group = Layergroup {
            config: MapConfig::new([Layer::vector("select 1")]),
            template: None,
        };
        state.put_layergroup("alice", "x:0", group);
        assert!(state.layergroup("alice", "x:0").is_some());
        assert!(state.layergroup("bob", "x:0").is_none());
    }

    #[test]
    fn a_users_layergroups_are_bounded_in_memory() {
        let state = MapsState::default();
        // Each config weighs a little over a quarter of the bound.
        let big = |n: usize| Layergroup {
            config: MapConfig::new([Layer::vector(format!(
                "select {n} -- {}",
                "x".repeat(MAX_LAYERGROUP_BYTES_PER_USER / 4)
            ))]),
            template: None,
        };
        for n in 0..4 {
            state.put_layergroup("alice", &format!("{n}:0"), big(n));
        }
        state.put_layergroup("bob", "b:0", big(9));
        // The oldest went; the newest and the recently used stay; bob keeps his.
        assert!(state.layergroup("alice", "0:0").is_none());
        assert!(state.layergroup("alice", "3:0").is_some());
        assert!(state.layergroup("bob", "b:0").is_some());
        state.put_layergroup("alice", "4:0", big(4));
        assert!(state.layergroup("alice", "1:0").is_none());
        assert!(state.layergroup("alice", "3:0").is_some());
        assert!(state.layergroup("alice", "4:0").is_some());
    }

    #[test]
    fn template_lifecycle() {
        let state = MapsState::default();
        let t = serde_json::json!({"name": "a"});
        state.create_template("alice", "a", t.clone()).unwrap();
        assert_eq!(
            state.create_template("alice", "a", t.clone()),
            Err(TemplateError::Exists)
        );
        assert_eq!(state.template_names("alice"), ["a"]);
        assert!(state.template_names("bob").is_empty());
        state.update_template("alice", "a", t.clone()).unwrap();
        assert_eq!(
            state.update_template("alice", "b", t),
            Err(TemplateError::Missing)
        );
        state.delete_template("alice", "a").unwrap();
        assert_eq!(
            state.delete_template("alice", "a"),
            Err(TemplateError::Missing)
        );
    }
}
