//! The schema of both backends, one numbered list of migrations applied at start: SQLite
//! records its version in `PRAGMA user_version`, PostgreSQL in the `voxgate_schema` table.

use super::error::StoreError;
use super::sql::{Dialect, Sql};

/// One step of the schema, as each backend writes it.
struct Migration {
    sqlite: &'static str,
    postgres: &'static str,
}

impl Migration {
    /// A step both backends write alike.
    const fn same(sql: &'static str) -> Migration {
        Migration { sqlite: sql, postgres: sql }
    }
}

/// Each entry moves the schema one version forward, in each backend's SQL. Never edit a shipped
/// entry: append. The two columns must describe the same tables, columns and indexes; PostgreSQL
/// stores every integer as BIGINT (milliseconds overflow INTEGER there).
const MIGRATIONS: &[Migration] = &[
    // 1: workspaces, keys, configuration, sessions (one row per conversation), transcripts, usage.
    Migration {
        sqlite: r#"
    CREATE TABLE workspaces (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        key_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        spec TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER
    );
    CREATE TABLE widgets (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        spec TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted_at INTEGER
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL UNIQUE,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        widget_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        modes TEXT NOT NULL,
        preview INTEGER NOT NULL,
        metadata TEXT NOT NULL,
        origin TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        ended_at INTEGER,
        end_reason TEXT
    );
    CREATE INDEX sessions_by_workspace_time ON sessions(workspace_id, created_at);
    CREATE INDEX sessions_live ON sessions(ended_at) WHERE ended_at IS NULL;
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (conversation_id, seq)
    );
    CREATE TABLE usage_events (
        id INTEGER PRIMARY KEY,
        workspace_id TEXT NOT NULL,
        session_id TEXT,
        kind TEXT NOT NULL,
        class TEXT NOT NULL,
        environment TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE INDEX usage_by_workspace_time ON usage_events(workspace_id, at);
    "#,
        postgres: r#"
    CREATE TABLE workspaces (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        key_hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        spec TEXT NOT NULL,
        version BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        deleted_at BIGINT
    );
    CREATE TABLE widgets (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        spec TEXT NOT NULL,
        version BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        deleted_at BIGINT
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL UNIQUE,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        widget_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        modes TEXT NOT NULL,
        preview BIGINT NOT NULL,
        metadata TEXT NOT NULL,
        origin TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        ended_at BIGINT,
        end_reason TEXT
    );
    CREATE INDEX sessions_by_workspace_time ON sessions(workspace_id, created_at);
    CREATE INDEX sessions_live ON sessions(ended_at) WHERE ended_at IS NULL;
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        UNIQUE (conversation_id, seq)
    );
    CREATE TABLE usage_events (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        workspace_id TEXT NOT NULL,
        session_id TEXT,
        kind TEXT NOT NULL,
        class TEXT NOT NULL,
        environment TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        at BIGINT NOT NULL
    );
    CREATE INDEX usage_by_workspace_time ON usage_events(workspace_id, at);
    "#,
    },
    // 2: voice calls (one per WebRTC peer; a session may have several, one at a time).
    Migration {
        sqlite: r#"
    CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        worker INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        connected_at INTEGER,
        ended_at INTEGER,
        end_reason TEXT
    );
    CREATE INDEX calls_by_session ON calls(session_id);
    "#,
        postgres: r#"
    CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        worker BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        connected_at BIGINT,
        ended_at BIGINT,
        end_reason TEXT
    );
    CREATE INDEX calls_by_session ON calls(session_id);
    "#,
    },
    // 3: metered minutes per call, for the conversation record.
    Migration {
        sqlite: r#"
    ALTER TABLE calls ADD COLUMN minutes INTEGER NOT NULL DEFAULT 0;
    "#,
        postgres: r#"
    ALTER TABLE calls ADD COLUMN minutes BIGINT NOT NULL DEFAULT 0;
    "#,
    },
    // 4: when a call's last metered minute started: the last durable evidence that it was live,
    // from which a call left open by a crash is closed at the next start.
    Migration {
        sqlite: r#"
    ALTER TABLE calls ADD COLUMN last_metered_at INTEGER;
    CREATE INDEX calls_open ON calls(ended_at) WHERE ended_at IS NULL;
    CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';
    "#,
        postgres: r#"
    ALTER TABLE calls ADD COLUMN last_metered_at BIGINT;
    CREATE INDEX calls_open ON calls(ended_at) WHERE ended_at IS NULL;
    CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';
    "#,
    },
    // 5: when each API key was last used (`voxgate keys list`).
    Migration {
        sqlite: r#"
    ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
    "#,
        postgres: r#"
    ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
    "#,
    },
    // 6: the knowledge attachment an agent's answer quotes ("Source: Title" in the widget).
    Migration::same(
        r#"
    ALTER TABLE messages ADD COLUMN source TEXT;
    "#,
    ),
    // 7: a voice call's transcript: which call, when in it (ms from connect), and the code a
    // failed turn ended with.
    Migration {
        sqlite: r#"
    ALTER TABLE messages ADD COLUMN call_id TEXT;
    ALTER TABLE messages ADD COLUMN offset_ms INTEGER;
    ALTER TABLE messages ADD COLUMN error_code TEXT;
    "#,
        postgres: r#"
    ALTER TABLE messages ADD COLUMN call_id TEXT;
    ALTER TABLE messages ADD COLUMN offset_ms BIGINT;
    ALTER TABLE messages ADD COLUMN error_code TEXT;
    "#,
    },
    // 8: dashboard users (argon2id PHC strings) and their sign-ins (the cookie's SHA-256 only).
    Migration {
        sqlite: r#"
    CREATE TABLE dashboard_users (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE dashboard_sign_ins (
        secret_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES dashboard_users(id),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        ended_at INTEGER
    );
    CREATE INDEX dashboard_sign_ins_by_user ON dashboard_sign_ins(user_id);
    "#,
        postgres: r#"
    CREATE TABLE dashboard_users (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        email TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE dashboard_sign_ins (
        secret_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES dashboard_users(id),
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        ended_at BIGINT
    );
    CREATE INDEX dashboard_sign_ins_by_user ON dashboard_sign_ins(user_id);
    "#,
    },
    // 9: a conversation's usage is read by session (every row of a conversations listing).
    Migration::same(
        r#"
    CREATE INDEX usage_by_session ON usage_events(session_id);
    "#,
    ),
    // 10: the conversations list's filters, each able to walk its own rows newest first instead
    // of every row of the workspace (a filter that matches little must not read them all).
    Migration {
        sqlite: r#"
    CREATE INDEX sessions_by_widget_time ON sessions(widget_id, created_at);
    CREATE INDEX sessions_by_agent_time ON sessions(agent_id, created_at);
    CREATE INDEX sessions_by_environment_time ON sessions(workspace_id, environment, created_at);
    CREATE INDEX sessions_voice_by_time ON sessions(workspace_id, created_at) WHERE instr(modes, '"voice"') > 0;
    CREATE INDEX sessions_text_by_time ON sessions(workspace_id, created_at) WHERE instr(modes, '"text"') > 0;
    "#,
        postgres: r#"
    -- instr() as SQLite has it, so one statement serves both backends (and can be indexed).
    CREATE FUNCTION instr(haystack TEXT, needle TEXT) RETURNS INTEGER
        LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT strpos(haystack, needle)';
    CREATE INDEX sessions_by_widget_time ON sessions(widget_id, created_at);
    CREATE INDEX sessions_by_agent_time ON sessions(agent_id, created_at);
    CREATE INDEX sessions_by_environment_time ON sessions(workspace_id, environment, created_at);
    CREATE INDEX sessions_voice_by_time ON sessions(workspace_id, created_at) WHERE instr(modes, '"voice"') > 0;
    CREATE INDEX sessions_text_by_time ON sessions(workspace_id, created_at) WHERE instr(modes, '"text"') > 0;
    "#,
    },
    // 11: each unit of usage names itself (a call's nth minute, a message's drawn id), so a
    // write retried after a lost connection, or a second meter, never counts it twice. Rows
    // from before have none (NULLs never conflict).
    Migration::same(
        r#"
    ALTER TABLE usage_events ADD COLUMN idempotency_key TEXT;
    CREATE UNIQUE INDEX usage_once ON usage_events(idempotency_key);
    "#,
    ),
    // 12: several nodes on one database. Each session names the node that carries it; each
    // node keeps a heartbeat, and a node whose lease lapses has its calls closed by another.
    Migration {
        sqlite: r#"
    ALTER TABLE sessions ADD COLUMN node TEXT;
    CREATE INDEX sessions_live_by_node ON sessions(node) WHERE ended_at IS NULL;
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        public_url TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL
    );
    "#,
        postgres: r#"
    ALTER TABLE sessions ADD COLUMN node TEXT;
    CREATE INDEX sessions_live_by_node ON sessions(node) WHERE ended_at IS NULL;
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        public_url TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL
    );
    "#,
    },
    // 13: the modes a conversation used, not those its widget allowed: a call connected
    // (voice), a visitor's typed message (text). Rows from before learn theirs from their calls
    // and messages. The list's mode filters read these instead of the allowed modes.
    Migration {
        sqlite: r#"
    ALTER TABLE sessions ADD COLUMN used_voice INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN used_text INTEGER NOT NULL DEFAULT 0;
    UPDATE sessions SET used_voice = 1
        WHERE id IN (SELECT session_id FROM calls WHERE connected_at IS NOT NULL);
    UPDATE sessions SET used_text = 1 WHERE conversation_id IN
        (SELECT conversation_id FROM messages WHERE role = 'visitor' AND call_id IS NULL);
    DROP INDEX sessions_voice_by_time;
    DROP INDEX sessions_text_by_time;
    CREATE INDEX sessions_voice_by_time ON sessions(workspace_id, created_at) WHERE used_voice = 1;
    CREATE INDEX sessions_text_by_time ON sessions(workspace_id, created_at) WHERE used_text = 1;
    "#,
        postgres: r#"
    ALTER TABLE sessions ADD COLUMN used_voice BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN used_text BIGINT NOT NULL DEFAULT 0;
    UPDATE sessions SET used_voice = 1
        WHERE id IN (SELECT session_id FROM calls WHERE connected_at IS NOT NULL);
    UPDATE sessions SET used_text = 1 WHERE conversation_id IN
        (SELECT conversation_id FROM messages WHERE role = 'visitor' AND call_id IS NULL);
    DROP INDEX sessions_voice_by_time;
    DROP INDEX sessions_text_by_time;
    CREATE INDEX sessions_voice_by_time ON sessions(workspace_id, created_at) WHERE used_voice = 1;
    CREATE INDEX sessions_text_by_time ON sessions(workspace_id, created_at) WHERE used_text = 1;
    "#,
    },
    // 14: agents that act. A session keeps the variables its customer's backend set (never
    // sent to a browser) and the warnings about them; a transcript line of role `tool` keeps
    // its call (name, arguments, result or error, duration) as JSON.
    Migration::same(
        r#"
    ALTER TABLE sessions ADD COLUMN variables TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sessions ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE messages ADD COLUMN tool TEXT;
    "#,
    ),
    // 15: webhooks. Endpoints per workspace (the secret is kept: signing needs it), and the
    // outbox: one row per event owed to one endpoint, written in the transaction of the change
    // it reports, its id the `webhook-id` of every attempt. Erased conversations leave only
    // their id (so a second DELETE answers the same) and their anonymous usage.
    Migration {
        sqlite: r#"
    CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL,
        spec TEXT NOT NULL,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        previous_until INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        failing_since INTEGER,
        disabled_at INTEGER,
        disabled_reason TEXT,
        deleted_at INTEGER
    );
    CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints(workspace_id);
    CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        endpoint_id TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        conversation_id TEXT,
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        lease_until INTEGER,
        last_status INTEGER,
        last_error TEXT,
        last_latency_ms INTEGER,
        delivered_at INTEGER
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, created_at);
    CREATE INDEX webhook_deliveries_by_conversation ON webhook_deliveries(conversation_id);
    CREATE TABLE erased_conversations (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL,
        erased_at INTEGER NOT NULL
    );
    "#,
        postgres: r#"
    CREATE TABLE webhook_endpoints (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL,
        spec TEXT NOT NULL,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        previous_until BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        failing_since BIGINT,
        disabled_at BIGINT,
        disabled_reason TEXT,
        deleted_at BIGINT
    );
    CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints(workspace_id);
    CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        endpoint_id TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        conversation_id TEXT,
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        next_attempt_at BIGINT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        lease_until BIGINT,
        last_status BIGINT,
        last_error TEXT,
        last_latency_ms BIGINT,
        delivered_at BIGINT
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id, created_at);
    CREATE INDEX webhook_deliveries_by_conversation ON webhook_deliveries(conversation_id);
    CREATE TABLE erased_conversations (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL,
        erased_at BIGINT NOT NULL
    );
    "#,
    },
    // 16: post-call analysis. A conversation whose agent asks for one is owed it when it ends
    // (in the same transaction); analysts lease due ones by `analysis_due` and keep the result
    // (or, after the last attempt, the failure) in `analysis`.
    Migration {
        sqlite: r#"
    ALTER TABLE sessions ADD COLUMN analysis TEXT;
    ALTER TABLE sessions ADD COLUMN analysis_status TEXT;
    ALTER TABLE sessions ADD COLUMN analysis_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN analysis_due INTEGER;
    CREATE INDEX sessions_analysis_due ON sessions(analysis_due) WHERE analysis_status = 'pending';
    "#,
        postgres: r#"
    ALTER TABLE sessions ADD COLUMN analysis TEXT;
    ALTER TABLE sessions ADD COLUMN analysis_status TEXT;
    ALTER TABLE sessions ADD COLUMN analysis_attempts BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN analysis_due BIGINT;
    CREATE INDEX sessions_analysis_due ON sessions(analysis_due) WHERE analysis_status = 'pending';
    "#,
    },
    // 17: per-turn latency. An agent's line in a call keeps how long its turn took, stage by
    // stage, in milliseconds (JSON).
    Migration::same(
        r#"
    ALTER TABLE messages ADD COLUMN latency TEXT;
    "#,
    ),
    // 18: call recordings. A row per recorded call, made when the call is placed: where its Ogg
    // file is (`local`: the recording node's data dir; `object`: the object store), how much was
    // written, and its widget's retention. Erasure and expiry set `deleted_at`; the file goes,
    // then the row.
    Migration {
        sqlite: r#"
    CREATE TABLE recordings (
        call_id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        widget_id TEXT NOT NULL,
        node TEXT NOT NULL,
        location TEXT NOT NULL,
        stored TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        bytes INTEGER NOT NULL DEFAULT 0,
        duration_ms INTEGER NOT NULL DEFAULT 0,
        retention_days INTEGER NOT NULL,
        deleted_at INTEGER
    );
    CREATE INDEX recordings_by_conversation ON recordings(conversation_id);
    CREATE INDEX recordings_by_widget ON recordings(widget_id);
    CREATE INDEX recordings_by_start ON recordings(started_at) WHERE deleted_at IS NULL;
    CREATE INDEX recordings_deleted ON recordings(deleted_at) WHERE deleted_at IS NOT NULL;
    "#,
        postgres: r#"
    CREATE TABLE recordings (
        call_id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        widget_id TEXT NOT NULL,
        node TEXT NOT NULL,
        location TEXT NOT NULL,
        stored TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        bytes BIGINT NOT NULL DEFAULT 0,
        duration_ms BIGINT NOT NULL DEFAULT 0,
        retention_days BIGINT NOT NULL,
        deleted_at BIGINT
    );
    CREATE INDEX recordings_by_conversation ON recordings(conversation_id);
    CREATE INDEX recordings_by_widget ON recordings(widget_id);
    CREATE INDEX recordings_by_start ON recordings(started_at) WHERE deleted_at IS NULL;
    CREATE INDEX recordings_deleted ON recordings(deleted_at) WHERE deleted_at IS NOT NULL;
    "#,
    },
    // 19: which process holds a node name (random per start; NULL: released by a clean stop),
    // so a second process starting under a name a live node holds is refused, not merged.
    Migration {
        sqlite: "ALTER TABLE nodes ADD COLUMN incarnation TEXT;",
        postgres: "ALTER TABLE nodes ADD COLUMN incarnation TEXT;",
    },
    // 20: how many times a call's visitor restarted ICE (a network change) and the call went on.
    Migration {
        sqlite: "ALTER TABLE calls ADD COLUMN reconnects INTEGER NOT NULL DEFAULT 0;",
        postgres: "ALTER TABLE calls ADD COLUMN reconnects BIGINT NOT NULL DEFAULT 0;",
    },
];

/// Key of the advisory lock that lets one PostgreSQL node migrate while the others wait.
const MIGRATION_LOCK: i64 = 0x0076_6f78_6761_7465;

/// Brings the schema to the newest version, in one transaction. Safe to run from several
/// processes (and nodes) at once: the first migrates, the others then find nothing to do.
pub fn migrate(c: &dyn Sql) -> Result<(), StoreError> {
    match c.dialect() {
        Dialect::Sqlite => c.batch("BEGIN IMMEDIATE")?,
        Dialect::Postgres => {
            c.batch(&format!("BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))?;
            // Checked first (rather than IF NOT EXISTS, which logs a notice at every start).
            let found: Option<String> = c.query_value("SELECT to_regclass('voxgate_schema')::TEXT", &[])?;
            if found.is_none() {
                c.batch("CREATE TABLE voxgate_schema (version BIGINT NOT NULL)")?;
            }
        }
    }
    let applied = apply(c);
    match applied {
        Ok(()) => c.batch("COMMIT"),
        Err(e) => {
            let _ = c.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn apply(c: &dyn Sql) -> Result<(), StoreError> {
    let current = version(c)?;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = i + 1;
        match c.dialect() {
            Dialect::Sqlite => {
                c.batch(m.sqlite)?;
                c.batch(&format!("PRAGMA user_version = {version}"))?;
            }
            Dialect::Postgres => {
                c.batch(m.postgres)?;
                c.batch(&format!(
                    "DELETE FROM voxgate_schema; INSERT INTO voxgate_schema VALUES ({version})"
                ))?;
            }
        }
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}

/// The schema version the database is at.
pub fn version(c: &dyn Sql) -> Result<usize, StoreError> {
    let v: Option<i64> = match c.dialect() {
        Dialect::Sqlite => Some(c.query_value("PRAGMA user_version", &[])?),
        Dialect::Postgres => c.query_opt("SELECT version FROM voxgate_schema", &[], |r| r.get(0))?,
    };
    Ok(v.unwrap_or(0).max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = super::super::sqlite::open(&dir.path().join("db.sqlite")).unwrap();
        migrate(&c).unwrap();
        migrate(&c).unwrap();
        assert_eq!(version(&c).unwrap(), MIGRATIONS.len());
    }
}
