//! Dashboard sign-ins: checking a password, limiting attempts, and the cookie sessions that
//! follow. Every check reads the store (one indexed row), so a sign-out or a password change
//! by `voxgate users` applies at the very next request, on every node of a shared store.

use crate::clock;
use crate::store::dashboard::{self, UserRow};
use crate::store::{Store, StoreError};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use voxgate_engine::failed_attempts::FailedAttempts;
use voxgate_engine::ids::{UserId, WorkspaceId};
use voxgate_engine::password;
use voxgate_engine::sign_in::{self, normalize_email, SignInSecret};
use voxgate_engine::Timestamp;

/// How long a sign-in lasts, and how many attempts an account and a client address get.
#[derive(Debug, Clone, Copy)]
pub struct SignInPolicy {
    pub ttl: Duration,
    /// Failed sign-in attempts per account (email) in `attempt_window`.
    pub attempts_per_account: NonZeroU32,
    /// Failed sign-in attempts per client address in `attempt_window`.
    pub attempts_per_address: NonZeroU32,
    pub attempt_window: Duration,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        SignInPolicy {
            ttl: Duration::from_secs(12 * 3600),
            attempts_per_account: NonZeroU32::new(5).expect("nonzero"),
            attempts_per_address: NonZeroU32::new(20).expect("nonzero"),
            attempt_window: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong email or password; which of the two is not said.
    #[error("the email or password is wrong")]
    Refused,
    #[error("too many sign-in attempts; try again in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    #[error("storage is unavailable: {0}")]
    Store(#[from] StoreError),
}

/// A dashboard user as the edge sees one (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardUser {
    pub id: UserId,
    pub workspace_id: WorkspaceId,
    pub email: String,
}

impl From<UserRow> for DashboardUser {
    fn from(u: UserRow) -> Self {
        DashboardUser { id: u.id, workspace_id: u.workspace_id, email: u.email }
    }
}

/// A new sign-in: the cookie's secret (shown to this browser only) and whose it is.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub secret: String,
    pub user: DashboardUser,
    pub expires_at: Timestamp,
}

/// The dashboard's sign-ins.
pub struct DashboardAuth {
    store: Store,
    policy: SignInPolicy,
    failures: Mutex<Failures>,
}

/// Failed sign-ins in the attempt window, by account and by client address.
struct Failures {
    by_account: FailedAttempts<String>,
    by_address: FailedAttempts<IpAddr>,
}

/// A hash no password matches, verified for unknown emails so a refusal takes as long either
/// way (the response time does not tell which emails have accounts).
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        password::hash(&password::generate(&mut rand::rng()), &mut rand::rng()).unwrap_or_default()
    })
}

impl DashboardAuth {
    pub fn new(store: Store, policy: SignInPolicy) -> Self {
        DashboardAuth {
            store,
            failures: Mutex::new(Failures {
                by_account: FailedAttempts::new(
                    policy.attempts_per_account.get() as usize,
                    policy.attempt_window,
                ),
                by_address: FailedAttempts::new(
                    policy.attempts_per_address.get() as usize,
                    policy.attempt_window,
                ),
            }),
            policy,
        }
    }

    pub fn policy(&self) -> &SignInPolicy {
        &self.policy
    }

    /// Refuses an attempt when the account or the address has failed too often in the window.
    fn admit(&self, email: &str, client: IpAddr) -> Result<(), SignInError> {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let address = failures.by_address.check(&client, now);
        let account = failures.by_account.check(&email.to_string(), now);
        match (address, account) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(SignInError::RateLimited { retry_after: a.max(b) }),
            (Err(w), _) | (_, Err(w)) => Err(SignInError::RateLimited { retry_after: w }),
        }
    }

    /// Checks `password` for `email` from `client`; on success records a new sign-in.
    pub async fn sign_in(
        &self,
        email: &str,
        password_text: &str,
        client: IpAddr,
    ) -> Result<SignedIn, SignInError> {
        let email = normalize_email(email).map_err(|_| SignInError::Refused)?;
        self.admit(&email, client)?;
        let lookup = email.clone();
        let user = self.store.read(move |c| dashboard::user_by_email(c, &lookup)).await?;
        let phc = user.as_ref().map_or_else(|| decoy_hash().to_string(), |u| u.password_hash.clone());
        let given = password_text.to_string();
        // About 20 ms of CPU: off the async threads.
        let matches =
            tokio::task::spawn_blocking(move || password::verify(&given, &phc)).await.unwrap_or(false);
        let Some(user) = user.filter(|_| matches) else {
            let now = Instant::now();
            let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            failures.by_account.fail(&email, now);
            failures.by_address.fail(&client, now);
            return Err(SignInError::Refused);
        };
        // A success clears the account's failures (not the address's: one address may guess at
        // many accounts and own one of them).
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).by_account.clear(&email);
        let secret = SignInSecret::generate(&mut rand::rng());
        let now = clock::now();
        let expires_at = now.plus_millis(self.policy.ttl.as_millis() as i64);
        let (hash, id) = (secret.hash.clone(), user.id.clone());
        self.store.write(move |c| dashboard::insert_sign_in(c, &hash, &id, now, expires_at)).await?;
        Ok(SignedIn { secret: secret.secret, user: user.into(), expires_at })
    }

    /// The user a cookie's secret belongs to, if it is a live sign-in.
    pub async fn user(&self, secret: &str) -> Result<Option<DashboardUser>, StoreError> {
        if !sign_in::is_well_formed(secret) {
            return Ok(None);
        }
        let hash = sign_in::hash_of(secret);
        let now = clock::now();
        Ok(self.store.read(move |c| dashboard::signed_in_user(c, &hash, now)).await?.map(DashboardUser::from))
    }

    /// Makes `email` a user of `ws` with a new generated password, which is returned (the demo's
    /// user, printed at each start); an existing user's sign-ins end.
    pub async fn issue_password(
        &self,
        ws: &WorkspaceId,
        email: &str,
    ) -> Result<String, crate::dashboard_users::UserCommandError> {
        use crate::dashboard_users::{create_user, UserCommandError};
        let email = normalize_email(email).map_err(UserCommandError::BadEmail)?;
        let password_text = password::generate(&mut rand::rng());
        if create_user(&self.store, ws, &email, &password_text).await?.is_some() {
            return Ok(password_text);
        }
        let lookup = email.clone();
        let Some(user) = self.store.read(move |c| dashboard::user_by_email(c, &lookup)).await? else {
            return Err(UserCommandError::Taken(email));
        };
        if user.workspace_id != *ws {
            return Err(UserCommandError::Taken(email));
        }
        let hash = password::hash(&password_text, &mut rand::rng())?;
        let now = clock::now();
        self.store.write(move |c| dashboard::set_password(c, &user.id, &hash, now)).await?;
        Ok(password_text)
    }

    /// Ends a sign-in; its cookie opens nothing from the next request on.
    pub async fn sign_out(&self, secret: &str) -> Result<(), StoreError> {
        let hash = sign_in::hash_of(secret);
        let now = clock::now();
        self.store.write(move |c| dashboard::end_sign_in(c, &hash, now)).await
    }
}
