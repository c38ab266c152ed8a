//! The SQLite schema, applied as numbered migrations recorded in `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry moves the schema one version forward. Never edit a shipped entry: append.
const MIGRATIONS: &[&str] = &[
    // 1: workspaces, keys, configuration, sessions (one row per conversation), transcripts, usage.
    r#"
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
    // 2: voice calls (one per WebRTC peer; a session may have several, one at a time).
    r#"
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
    // 3: metered minutes per call, for the conversation record.
    r#"
    ALTER TABLE calls ADD COLUMN minutes INTEGER NOT NULL DEFAULT 0;
    "#,
    // 4: when a call's last metered minute started: the last durable evidence that it was live,
    // from which a call left open by a crash is closed at the next start.
    r#"
    ALTER TABLE calls ADD COLUMN last_metered_at INTEGER;
    CREATE INDEX calls_open ON calls(ended_at) WHERE ended_at IS NULL;
    CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';
    "#,
    // 5: when each API key was last used (`voxgate keys list`).
    r#"
    ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
    "#,
    // 6: the knowledge attachment an agent's answer quotes ("Source: Title" in the widget).
    r#"
    ALTER TABLE messages ADD COLUMN source TEXT;
    "#,
    // 7: a voice call's transcript: which call, when in it (ms from connect), and the code a
    // failed turn ended with.
    r#"
    ALTER TABLE messages ADD COLUMN call_id TEXT;
    ALTER TABLE messages ADD COLUMN offset_ms INTEGER;
    ALTER TABLE messages ADD COLUMN error_code TEXT;
    "#,
    // 8: dashboard users (argon2id PHC strings) and their sign-ins (the cookie's SHA-256 only).
    r#"
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
    // 9: a conversation's usage is read by session (every row of a conversations listing).
    r#"
    CREATE INDEX usage_by_session ON usage_events(session_id);
    "#,
    // 10: the conversations list's filters, each able to walk its own rows newest first instead
    // of every row of the workspace (a filter that matches little must not read them all).
    r#"
    CREATE INDEX sessions_by_widget_time ON sessions(widget_id, created_at);
    CREATE INDEX sessions_by_agent_time ON sessions(agent_id, created_at);
    CREATE INDEX sessions_by_environment_time ON sessions(workspace_id, environment, created_at);
    CREATE INDEX sessions_voice_by_time ON sessions(workspace_id, created_at) WHERE instr(modes, '"voice"') > 0;
    CREATE INDEX sessions_text_by_time ON sessions(workspace_id, created_at) WHERE instr(modes, '"text"') > 0;
    "#,
    // 11: each unit of usage names itself (a call's nth minute, a message's drawn id), so a
    // write retried after a lost connection, or a second meter, never counts it twice. Rows
    // from before have none (NULLs never conflict).
    r#"
    ALTER TABLE usage_events ADD COLUMN idempotency_key TEXT;
    CREATE UNIQUE INDEX usage_once ON usage_events(idempotency_key);
    "#,
];

/// Opens the database file with the settings every connection needs.
pub fn open(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    Ok(conn)
}

/// Brings the schema to the newest version. Safe to call from several processes at once.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: usize = tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut c = open(&path).unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }
}
