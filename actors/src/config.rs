//! Workspace configuration held in memory. Browser requests read only this; saves write
//! through to the store and then replace the cached entry, so a save applies to the very next
//! request. API keys are the exception: they are made and revoked by `voxgate keys` in another
//! process, so each control-plane request checks its key in the store (one indexed read), and a
//! new key works, and a revoked one is refused, at the very next request.
//! With several nodes on PostgreSQL, each save also announces itself in its transaction, and
//! every other node reloads that one entry when its listener hears it (`cluster::listener`).

use crate::cluster::announce::{announce, Change};
use crate::store::recordings;
use crate::store::records::{self, ApiKeyRow, WorkspaceRow};
use crate::store::sql::Dialect;
use crate::store::{Store, StoreError};
use dashmap::DashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use voxgate_engine::agent::Agent;
use voxgate_engine::api_key::KeyHash;
use voxgate_engine::ids::{AgentId, KeyId, WidgetId, WorkspaceId};
use voxgate_engine::widget::Widget;

/// Times a save is rebuilt on the stored version after another node's save got in first.
const STALE_RETRIES: u32 = 20;

/// The longest random pause before a stale save is rebuilt, in milliseconds. Without one, two
/// nodes saving the same widget in a loop met again at once, and one could lose ten times in a
/// row on a busy 2-core machine.
const STALE_BACKOFF_MAX_MS: u64 = 64;

/// Puts `item` in `map` unless a newer version is there already: a save, a reread and an
/// announcement of the same document may land in any order, and the cache must only move
/// forward.
fn publish<K: Eq + std::hash::Hash, T>(
    map: &DashMap<K, Arc<T>>,
    id: K,
    item: Arc<T>,
    version: impl Fn(&T) -> u64,
) {
    map.entry(id)
        .and_modify(|held| {
            if version(&item) >= version(held) {
                *held = item.clone();
            }
        })
        .or_insert_with(|| item.clone());
}

/// How often a key's `last_used_at` is written.
const KEY_TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A workspace API key as the store knows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    Valid { key: KeyId, workspace: WorkspaceId },
    Revoked { key: KeyId, at: voxgate_engine::Timestamp },
    Unknown,
}

/// The in-memory configuration of every workspace.
pub struct ConfigCache {
    store: Store,
    /// This node's id, named in what it announces.
    node: String,
    workspaces: DashMap<WorkspaceId, WorkspaceRow>,
    /// When each key's `last_used_at` was last written (at most once a minute per key).
    key_touched: DashMap<KeyId, Instant>,
    /// Keys read, by hash: kept only where revocations are announced (PostgreSQL).
    keys: DashMap<String, ApiKeyRow>,
    keys_announced: bool,
    agents: DashMap<AgentId, Arc<Agent>>,
    widgets: DashMap<WidgetId, Arc<Widget>>,
    /// Serializes read-modify-write saves so two PATCHes never lose one another's change.
    save_lock: tokio::sync::Mutex<()>,
}

impl ConfigCache {
    /// Loads everything from the store.
    pub fn load(store: Store, node: &str) -> Result<ConfigCache, StoreError> {
        let cache = ConfigCache {
            store: store.clone(),
            node: node.to_string(),
            keys: DashMap::new(),
            keys_announced: store.dialect() == Dialect::Postgres,
            workspaces: DashMap::new(),
            key_touched: DashMap::new(),
            agents: DashMap::new(),
            widgets: DashMap::new(),
            save_lock: tokio::sync::Mutex::new(()),
        };
        store.read_blocking(|c| {
            for w in records::all_workspaces(c)? {
                cache.workspaces.insert(w.id.clone(), w);
            }
            for a in records::all_agents(c)? {
                cache.agents.insert(a.id.clone(), Arc::new(a));
            }
            for w in records::all_widgets(c)? {
                cache.widgets.insert(w.id.clone(), Arc::new(w));
            }
            Ok(())
        })?;
        Ok(cache)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the store says of a workspace API key now. On SQLite that is one read per request
    /// (`voxgate keys` revokes from another process, which cannot tell the server). On
    /// PostgreSQL a key once read is kept, since `voxgate keys revoke` announces the revocation
    /// and every node's listener drops the key at once (and all keys when it reconnects).
    pub async fn check_key(&self, key: &str) -> Result<KeyCheck, StoreError> {
        let hash = KeyHash::of(key).0;
        let cached = self.keys_announced.then(|| self.keys.get(&hash).map(|r| r.clone())).flatten();
        let row = match cached {
            Some(row) => row,
            None => {
                let h = hash.clone();
                let Some(row) = self.store.read(move |c| records::key_by_hash(c, &h)).await? else {
                    return Ok(KeyCheck::Unknown);
                };
                if self.keys_announced {
                    self.keys.insert(hash, row.clone());
                }
                row
            }
        };
        if let Some(at) = row.revoked_at {
            return Ok(KeyCheck::Revoked { key: row.id, at });
        }
        if !self.workspaces.contains_key(&row.workspace_id) {
            // A workspace made by `voxgate keys create` in another process.
            for w in self.store.read(records::all_workspaces).await? {
                self.workspaces.insert(w.id.clone(), w);
            }
        }
        self.touch_key(&row.id);
        Ok(KeyCheck::Valid { key: row.id, workspace: row.workspace_id })
    }

    /// Records a key's use, at most once a minute per key, without waiting for the commit.
    fn touch_key(&self, key: &KeyId) {
        let now = Instant::now();
        let due = self.key_touched.get(key).is_none_or(|at| now.duration_since(*at) >= KEY_TOUCH_EVERY);
        if due {
            self.key_touched.insert(key.clone(), now);
            let (k, at) = (key.clone(), crate::clock::now());
            drop(self.store.write(move |c| records::touch_api_key(c, &k, at)));
        }
    }

    /// The workspace named `name`, created if it does not exist, and in the cache either way
    /// (the demo's, made by the running server; a browser page such as the Trust Center finds it
    /// at the first request).
    pub async fn ensure_workspace(&self, name: &str) -> Result<WorkspaceId, StoreError> {
        let row = crate::workspaces::ensure_workspace(&self.store, name, Some(&self.node)).await?;
        let id = row.id.clone();
        self.workspaces.insert(id.clone(), row);
        Ok(id)
    }

    pub fn workspace(&self, id: &WorkspaceId) -> Option<WorkspaceRow> {
        self.workspaces.get(id).map(|w| w.clone())
    }

    /// A live (not deleted) or deleted agent, as stored.
    pub fn agent(&self, id: &AgentId) -> Option<Arc<Agent>> {
        self.agents.get(id).map(|a| a.clone())
    }

    pub fn widget(&self, id: &WidgetId) -> Option<Arc<Widget>> {
        self.widgets.get(id).map(|w| w.clone())
    }

    /// A workspace's agents that are not deleted, oldest first.
    pub fn agents_of(&self, ws: &WorkspaceId) -> Vec<Arc<Agent>> {
        let mut out: Vec<_> = self
            .agents
            .iter()
            .filter(|a| a.workspace_id == *ws && a.deleted_at.is_none())
            .map(|a| a.clone())
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        out
    }

    /// A workspace's widgets that are not deleted, oldest first.
    pub fn widgets_of(&self, ws: &WorkspaceId) -> Vec<Arc<Widget>> {
        let mut out: Vec<_> = self
            .widgets
            .iter()
            .filter(|w| w.workspace_id == *ws && w.deleted_at.is_none())
            .map(|w| w.clone())
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        out
    }

    /// Held while reading, changing and saving one configuration document.
    async fn lock_for_save(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.save_lock.lock().await
    }

    /// Saves `change()` (built from this node's copy), and when another node saved the agent
    /// meanwhile, rereads it and builds the change again on the stored version, so no node's
    /// save is lost to another's.
    pub async fn update_agent<E: From<StoreError>>(
        &self,
        id: &AgentId,
        change: impl Fn() -> Result<Agent, E>,
    ) -> Result<Arc<Agent>, E> {
        self.update(change, async |a| self.save_agent(a).await, async || self.reload_agent(id).await).await
    }

    /// `update_agent` for a widget.
    pub async fn update_widget<E: From<StoreError>>(
        &self,
        id: &WidgetId,
        change: impl Fn() -> Result<Widget, E>,
    ) -> Result<Arc<Widget>, E> {
        let reread = async || self.reload_widget(id).await.map(|_| ());
        self.update(change, async |w| self.save_widget(w).await, reread).await
    }

    /// Saves `change()` under the save lock; a save another node made stale is rebuilt on
    /// the reread stored version, up to `STALE_RETRIES` times.
    async fn update<T, E: From<StoreError>>(
        &self,
        change: impl Fn() -> Result<T, E>,
        save: impl AsyncFn(T) -> Result<Arc<T>, StoreError>,
        reread: impl AsyncFn() -> Result<(), StoreError>,
    ) -> Result<Arc<T>, E> {
        let _guard = self.lock_for_save().await;
        let mut tries = 0;
        loop {
            match save(change()?).await {
                Err(StoreError::Stale(what)) if tries < STALE_RETRIES => {
                    tracing::info!(%what, "saving again on the stored version");
                    // A random pause that doubles each time (1, 2, 4 ... 64 ms at most) lets the
                    // other node's save finish instead of meeting it again.
                    let cap = (1u64 << tries.min(6)).min(STALE_BACKOFF_MAX_MS);
                    let pause = rand::Rng::random_range(&mut rand::rng(), 0..=cap);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                    reread().await?;
                    tries += 1;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Commits an agent, then publishes it to the cache.
    pub async fn save_agent(&self, agent: Agent) -> Result<Arc<Agent>, StoreError> {
        let agent = Arc::new(agent);
        let (row, node) = (agent.clone(), self.node.clone());
        self.store
            .write(move |c| {
                records::upsert_agent(c, &row)?;
                announce(c, &node, Change::Agent { id: row.id.to_string() })
            })
            .await?;
        publish(&self.agents, agent.id.clone(), agent.clone(), |a| a.version);
        Ok(agent)
    }

    /// Commits a widget, then publishes it to the cache.
    pub async fn save_widget(&self, widget: Widget) -> Result<Arc<Widget>, StoreError> {
        let widget = Arc::new(widget);
        let (row, node) = (widget.clone(), self.node.clone());
        self.store
            .write(move |c| {
                records::upsert_widget(c, &row)?;
                recordings::set_retention(c, row.id.as_str(), row.spec.privacy.recording_retention_days)?;
                announce(c, &node, Change::Widget { id: row.id.to_string() })
            })
            .await?;
        publish(&self.widgets, widget.id.clone(), widget.clone(), |w| w.version);
        Ok(widget)
    }

    /// A widget from the cache or, when another node made it an instant ago and its
    /// announcement is still on the way, from the store (the control plane only).
    pub async fn widget_or_load(&self, id: &WidgetId) -> Result<Option<Arc<Widget>>, StoreError> {
        match self.widget(id) {
            Some(w) => Ok(Some(w)),
            None => self.reload_widget(id).await,
        }
    }

    /// An agent from the cache or, on a miss, from the store (as `widget_or_load`).
    pub async fn agent_or_load(&self, id: &AgentId) -> Result<Option<Arc<Agent>>, StoreError> {
        if let Some(a) = self.agent(id) {
            return Ok(Some(a));
        }
        self.reload_agent(id).await?;
        Ok(self.agent(id))
    }

    /// Forgets a key another process revoked (or every key, with `None`), so the next request
    /// with it reads the store.
    pub fn forget_key(&self, key: Option<&KeyId>) {
        match key {
            Some(id) => self.keys.retain(|_, row| row.id != *id),
            None => self.keys.clear(),
        }
    }

    /// Rereads one workspace another node created.
    pub async fn reload_workspace(&self, id: &WorkspaceId) -> Result<(), StoreError> {
        let ws = id.clone();
        if let Some(row) = self.store.read(move |c| records::workspace(c, &ws)).await? {
            self.workspaces.insert(row.id.clone(), row);
        }
        Ok(())
    }

    /// Rereads one agent another node saved.
    pub async fn reload_agent(&self, id: &AgentId) -> Result<(), StoreError> {
        let agent = id.clone();
        if let Some(a) = self.store.read(move |c| records::agent(c, &agent)).await? {
            publish(&self.agents, a.id.clone(), Arc::new(a), |a| a.version);
        }
        Ok(())
    }

    /// Rereads one widget another node saved; the widget as it now is.
    pub async fn reload_widget(&self, id: &WidgetId) -> Result<Option<Arc<Widget>>, StoreError> {
        let widget = id.clone();
        let Some(w) = self.store.read(move |c| records::widget(c, &widget)).await? else {
            return Ok(None);
        };
        let w = Arc::new(w);
        publish(&self.widgets, w.id.clone(), w.clone(), |w| w.version);
        Ok(Some(w))
    }

    /// Rereads everything (after the listener missed what was said while it reconnected);
    /// every widget as it now is.
    pub async fn reload_all(&self) -> Result<Vec<Arc<Widget>>, StoreError> {
        self.forget_key(None);
        let (workspaces, agents, widgets) = self
            .store
            .read(|c| Ok((records::all_workspaces(c)?, records::all_agents(c)?, records::all_widgets(c)?)))
            .await?;
        for w in workspaces {
            self.workspaces.insert(w.id.clone(), w);
        }
        for a in agents {
            publish(&self.agents, a.id.clone(), Arc::new(a), |a| a.version);
        }
        let widgets: Vec<Arc<Widget>> = widgets.into_iter().map(Arc::new).collect();
        for w in &widgets {
            publish(&self.widgets, w.id.clone(), w.clone(), |w| w.version);
        }
        Ok(widgets)
    }
}
