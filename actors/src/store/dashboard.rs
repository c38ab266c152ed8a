//! Dashboard users and their sign-ins, one function per statement.

use super::sql::{args, Row, Sql};
use super::StoreError;
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

fn user_row(r: &Row) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: UserId::parse(&r.get::<String>(0)?).map_err(corrupt)?,
        workspace_id: WorkspaceId::parse(&r.get::<String>(1)?).map_err(corrupt)?,
        email: r.get(2)?,
        password_hash: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
    })
}

/// Adds a user; false when the email is taken already.
pub fn insert_user(c: &dyn Sql, u: &UserRow) -> Result<bool, StoreError> {
    let n = c.execute(
        "INSERT INTO dashboard_users (id, workspace_id, email, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (email) DO NOTHING",
        args![u.id.as_str(), u.workspace_id.as_str(), &u.email, &u.password_hash, u.created_at.millis()],
    )?;
    Ok(n == 1)
}

/// Replaces a user's password hash and ends every sign-in of theirs.
pub fn set_password(
    c: &dyn Sql,
    user: &UserId,
    password_hash: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE dashboard_users SET password_hash = ?2 WHERE id = ?1",
        args![user.as_str(), password_hash],
    )?;
    c.execute(
        "UPDATE dashboard_sign_ins SET ended_at = ?2 WHERE user_id = ?1 AND ended_at IS NULL",
        args![user.as_str(), at.millis()],
    )?;
    Ok(())
}

pub fn user_by_email(c: &dyn Sql, email: &str) -> Result<Option<UserRow>, StoreError> {
    c.query_opt(&format!("SELECT {USER_COLUMNS} WHERE email = ?1"), args![email], user_row)
}

/// Users, oldest first.
pub fn users(c: &dyn Sql) -> Result<Vec<UserRow>, StoreError> {
    c.query_map(&format!("SELECT {USER_COLUMNS} ORDER BY created_at, id"), &[], user_row)
}

/// Records a sign-in under its secret's hash.
pub fn insert_sign_in(
    c: &dyn Sql,
    secret_hash: &str,
    user: &UserId,
    at: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO dashboard_sign_ins (secret_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        args![secret_hash, user.as_str(), at.millis(), expires_at.millis()],
    )?;
    Ok(())
}

/// The user of a sign-in that is neither ended nor expired at `now`.
pub fn signed_in_user(c: &dyn Sql, secret_hash: &str, now: Timestamp) -> Result<Option<UserRow>, StoreError> {
    c.query_opt(
        "SELECT u.id, u.workspace_id, u.email, u.password_hash, u.created_at
         FROM dashboard_sign_ins s JOIN dashboard_users u ON u.id = s.user_id
         WHERE s.secret_hash = ?1 AND s.ended_at IS NULL AND s.expires_at > ?2",
        args![secret_hash, now.millis()],
        user_row,
    )
}

/// Ends a sign-in (signing out).
pub fn end_sign_in(c: &dyn Sql, secret_hash: &str, at: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "UPDATE dashboard_sign_ins SET ended_at = ?2 WHERE secret_hash = ?1 AND ended_at IS NULL",
        args![secret_hash, at.millis()],
    )?;
    Ok(())
}
