//! `wugan key`: the hub's API keys on its database. A new key is printed once and kept only as its
//! hash; keys are named by their key id everywhere else (access logs, this listing).

use std::time::Duration;
use wugan_hub::model::Role;
use wugan_hub::pii::DataKey;
use wugan_hub::store::{ApiKeyRow, KeyStatus, Store};

/// What `wugan key` is asked to do.
pub enum KeyCommand {
    List,
    /// A new key for a role (and hospital), beside the ones it has.
    Issue {
        role: Role,
        hospital: Option<String>,
        label: Option<String>,
    },
    /// A new key for the same caller as `key_id`, which keeps working for `grace`, then stops.
    Rotate {
        key_id: String,
        grace: Duration,
    },
    /// `key_id` stops working now.
    Revoke {
        key_id: String,
    },
}

/// Runs `command` on the hub's database (migrated first); returns what to print.
pub async fn run(store: &Store, command: KeyCommand) -> anyhow::Result<String> {
    match command {
        KeyCommand::List => Ok(listing(&store.api_keys().await?, &store.now())),
        KeyCommand::Issue { role, hospital, label } => {
            if role == Role::Hospital && hospital.is_none() {
                anyhow::bail!("a hospital key names its hospital (--hospital CODE)");
            }
            if let Some(code) = hospital.as_deref().filter(|_| role == Role::Hospital) {
                anyhow::ensure!(store.hospital_exists(code).await?, "no hospital {code} on this hub");
            }
            let hospital = hospital.filter(|_| role == Role::Hospital);
            issue(store, role, hospital.as_deref(), label.as_deref()).await
        }
        KeyCommand::Rotate { key_id, grace } => {
            let old = store.api_key(&key_id).await?.ok_or_else(|| anyhow::anyhow!("no key {key_id}"))?;
            anyhow::ensure!(old.opens_the_api(&store.now()), "key {key_id} no longer works; issue a new one instead");
            let label = format!("rotated from {key_id}");
            let printed = issue(store, old.role, old.hospital_code.as_deref(), Some(old.label.as_deref().unwrap_or(&label))).await?;
            let until = wugan_hub::clock::timestamp(store.clock.now_utc() + grace);
            store.expire_api_key(&key_id, &until).await?;
            Ok(format!("{printed}{key_id} keeps working until {until}, then stops (401 key_revoked)\n"))
        }
        KeyCommand::Revoke { key_id } => {
            anyhow::ensure!(store.api_key(&key_id).await?.is_some(), "no key {key_id}");
            if store.revoke_api_key(&key_id).await? {
                Ok(format!("{key_id} revoked: it stops working now\n"))
            } else {
                Ok(format!("{key_id} was revoked already\n"))
            }
        }
    }
}

/// Mints a key, stores its hash, and returns the text that shows it, once.
async fn issue(store: &Store, role: Role, hospital: Option<&str>, label: Option<&str>) -> anyhow::Result<String> {
    let prefix = match role {
        Role::Operator => "op",
        Role::Hospital => "his",
    };
    let key = format!("{prefix}_{}", DataKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?.to_hex());
    let key_id = store.issue_api_key(&wugan_hub::api::hash_api_key(&key), role, hospital, label).await?;
    Ok(format!("{key_id} issued for {}. The key, shown this once (only its hash is kept):\n{key}\n", who(role, hospital)))
}

fn who(role: Role, hospital: Option<&str>) -> String {
    match hospital {
        Some(code) => format!("{} {code}", role.as_str()),
        None => role.as_str().to_string(),
    }
}

/// One line per key: id, caller, origin, status, created, last used, label. No key material.
pub fn listing(keys: &[ApiKeyRow], now: &str) -> String {
    let mut out = format!("{:<21} {:<22} {:<11} {:<38} {:<27} {:<27} label\n", "key", "caller", "origin", "status", "created", "last used");
    for k in keys {
        let status = match k.status(now) {
            KeyStatus::Active => "active".to_string(),
            KeyStatus::Expiring { until } => format!("active until {until}"),
            KeyStatus::Revoked { at } => format!("revoked {at}"),
            KeyStatus::Expired { at } => format!("expired {at}"),
        };
        out.push_str(&format!(
            "{:<21} {:<22} {:<11} {:<38} {:<27} {:<27} {}\n",
            k.key_id,
            who(k.role, k.hospital_code.as_deref()),
            k.origin.as_str(),
            status,
            k.created_at,
            k.last_used_at.as_deref().unwrap_or("never"),
            k.label.as_deref().unwrap_or("")
        ));
    }
    out
}
