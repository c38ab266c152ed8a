//! Dashboard users from the command line (`voxgate users create`), run in their own process
//! like `voxgate keys`; a running server accepts the new user's sign-in at once, since every
//! sign-in reads the store.

use crate::clock;
use crate::offline_store::{with_store, OfflineStoreError, StoreAt};
use crate::store::dashboard::{self, UserRow};
use crate::store::StoreError;
use crate::workspaces::ensure_workspace;
use voxgate_engine::ids::{UserId, WorkspaceId};
use voxgate_engine::password::{self, PasswordError};
use voxgate_engine::sign_in::normalize_email;

/// Why a user command did nothing.
#[derive(Debug, thiserror::Error)]
pub enum UserCommandError {
    #[error("{0}")]
    Offline(#[from] OfflineStoreError),
    #[error("{0}")]
    BadEmail(String),
    #[error("{0}")]
    BadPassword(#[from] PasswordError),
    #[error("there is a dashboard user {0} already (each email signs in to one workspace)")]
    Taken(String),
}

impl From<StoreError> for UserCommandError {
    fn from(e: StoreError) -> Self {
        UserCommandError::Offline(e.into())
    }
}

/// A user just made.
pub struct CreatedUser {
    pub id: UserId,
    pub email: String,
    pub workspace_id: WorkspaceId,
    /// The password, when it was generated here (shown once, stored nowhere).
    pub generated_password: Option<String>,
    pub store: String,
}

/// Stores a new user of workspace `ws`; false when the email is taken.
pub async fn create_user(
    store: &crate::store::Store,
    ws: &WorkspaceId,
    email: &str,
    password_text: &str,
) -> Result<Option<UserRow>, UserCommandError> {
    let email = normalize_email(email).map_err(UserCommandError::BadEmail)?;
    let hash = password::hash(password_text, &mut rand::rng())?;
    let row = UserRow {
        id: UserId::generate(&mut rand::rng()),
        workspace_id: ws.clone(),
        email,
        password_hash: hash,
        created_at: clock::now(),
    };
    let stored = row.clone();
    let inserted = store.write(move |c| dashboard::insert_user(c, &stored)).await?;
    Ok(inserted.then_some(row))
}

/// `voxgate users create`: a user of `workspace` (created if needed) with `password`, or with
/// a generated one when `None`.
pub fn create_in(
    store_at: StoreAt<'_>,
    workspace: &str,
    email: &str,
    password_text: Option<String>,
    init: bool,
) -> Result<CreatedUser, UserCommandError> {
    let location = store_at.location();
    // Refuse a bad email or password before touching the store.
    let email = normalize_email(email).map_err(UserCommandError::BadEmail)?;
    let generated = password_text.is_none();
    let password_text = password_text.unwrap_or_else(|| password::generate(&mut rand::rng()));
    if let Err(e) = password::hash(&password_text, &mut rand::rng()) {
        return Err(e.into());
    }
    let row = with_store::<_, UserCommandError>(&location, init, async |store| {
        let ws = ensure_workspace(store, workspace, None).await?;
        create_user(store, &ws.id, &email, &password_text)
            .await?
            .ok_or_else(|| UserCommandError::Taken(email.clone()))
    })?;
    Ok(CreatedUser {
        id: row.id,
        email: row.email,
        workspace_id: row.workspace_id,
        generated_password: generated.then_some(password_text),
        store: location.to_string(),
    })
}
