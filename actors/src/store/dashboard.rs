//! Dashboard users and their sign-ins, one function per statement.

use super::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use voxgate_engine::ids::{UserId, WorkspaceId};
use voxgate_engine::Timestamp;

/// A dashboard user as stored (the password only as its argon2id PHC string).
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub password_hash: String,
    pub created_at: Timestamp,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

const USER_COLUMNS: &str = "id, workspace_id, email, password_hash, created_at FROM dashboard_users";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<UserRow, StoreError>> {
    let (id, ws): (String, String) = (r.get(0)?, r.get(1)?);
    let (email, password_hash, created): (String, String, i64) = (r.get(2)?, r.get(3)?, r.get(4)?);
    Ok((|| {
        Ok(UserRow {
            id: UserId::parse(&id).map_err(corrupt)?,
            workspace_id: WorkspaceId::parse(&ws).map_err(corrupt)?,
            email,
            password_hash,
            created_at: Timestamp(created),
        })
    })())
}

/// Adds a user; false when the email is taken already.
pub fn insert_user(c: &Connection, u: &UserRow) -> Result<bool, StoreError> {
    let n = c.execute(
        "INSERT INTO dashboard_users (id, workspace_id, email, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (email) DO NOTHING",
        params![u.id.as_str(), u.workspace_id.as_str(), u.email, u.password_hash, u.created_at.millis()],
    )?;
    Ok(n == 1)
}

/// Replaces a user's password hash and ends every sign-in of theirs.
pub fn set_password(
    c: &Connection,
    user: &UserId,
    password_hash: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE dashboard_users SET password_hash = ?2 WHERE id = ?1",
        params![user.as_str(), password_hash],
    )?;
    c.execute(
        "UPDATE dashboard_sign_ins SET ended_at = ?2 WHERE user_id = ?1 AND ended_at IS NULL",
        params![user.as_str(), at.millis()],
    )?;
    Ok(())
}

pub fn user_by_email(c: &Connection, email: &str) -> Result<Option<UserRow>, StoreError> {
    c.query_row(&format!("SELECT {USER_COLUMNS} WHERE email = ?1"), [email], user_row).optional()?.transpose()
}

/// Users, oldest first.
pub fn users(c: &Connection) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = c.prepare(&format!("SELECT {USER_COLUMNS} ORDER BY created_at, id"))?;
    let rows = stmt.query_map([], user_row)?;
    rows.map(|r| r?).collect()
}

/// Records a sign-in under its secret's hash.
pub fn insert_sign_in(
    c: &Connection,
    secret_hash: &str,
    user: &UserId,
    at: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO dashboard_sign_ins (secret_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![secret_hash, user.as_str(), at.millis(), expires_at.millis()],
    )?;
    Ok(())
}

/// The user of a sign-in that is neither ended nor expired at `now`.
pub fn signed_in_user(
    c: &Connection,
    secret_hash: &str,
    now: Timestamp,
) -> Result<Option<UserRow>, StoreError> {
    c.query_row(
        "SELECT u.id, u.workspace_id, u.email, u.password_hash, u.created_at
         FROM dashboard_sign_ins s JOIN dashboard_users u ON u.id = s.user_id
         WHERE s.secret_hash = ?1 AND s.ended_at IS NULL AND s.expires_at > ?2",
        params![secret_hash, now.millis()],
        user_row,
    )
    .optional()?
    .transpose()
}

/// Ends a sign-in (signing out).
pub fn end_sign_in(c: &Connection, secret_hash: &str, at: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "UPDATE dashboard_sign_ins SET ended_at = ?2 WHERE secret_hash = ?1 AND ended_at IS NULL",
        params![secret_hash, at.millis()],
    )?;
    Ok(())
}
