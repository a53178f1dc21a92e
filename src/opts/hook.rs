//! The per-connect hook: the application's say over each new physical connection.
//!
//! Static passwords do not fit managed databases: RDS and Cloud SQL hand out IAM tokens that
//! expire after minutes, and secrets managers rotate passwords. sqlx users asked for a hook
//! (sqlx issues #445, #1500, #3117); deadpool's `pre_create` hook and sqlx's `before_connect`
//! are the model. The hook is an async function that gets the [`ConnectParams`] about to be
//! used for one host (user, password, init statements, TLS) and returns them, changed or not.
//! It runs before every new physical connection (a pool's idle connections are reused
//! without it), bounded by `connect_timeout`; it is the application's code, so its errors and
//! its slowness are never held against the host (no blacklisting), and the caller gets
//! [`crate::Error::ConnectHook`]. The hook caches its own tokens: it may run many times a
//! second when a pool grows.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_core::future::BoxFuture;

use super::tls::TlsOpts;
use crate::addr::HostAddr;

/// An error from a connect hook.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

type HookFn =
    dyn Fn(ConnectParams) -> BoxFuture<'static, Result<ConnectParams, HookError>> + Send + Sync;

/// A connect hook, as stored in the options (set with
/// [`LbOptsBuilder::before_connect`](crate::LbOptsBuilder::before_connect)).
#[derive(Clone)]
pub struct ConnectHook(Arc<HookFn>);

impl ConnectHook {
    /// Wraps an async function.
    pub fn new<F, Fut>(f: F) -> ConnectHook
    where
        F: Fn(ConnectParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ConnectParams, HookError>> + Send + 'static,
    {
        ConnectHook(Arc::new(move |p| Box::pin(f(p))))
    }

    pub(crate) fn call(
        &self,
        params: ConnectParams,
    ) -> BoxFuture<'static, Result<ConnectParams, HookError>> {
        (self.0)(params)
    }
}

impl fmt::Debug for ConnectHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectHook")
    }
}

/// What one new physical connection to one host will use; a connect hook may change it.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectParams {
    host: HostAddr,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) init: Vec<String>,
    pub(crate) tls: TlsOpts,
}

impl ConnectParams {
    pub(crate) fn new(
        host: HostAddr,
        user: Option<String>,
        password: Option<String>,
        tls: TlsOpts,
    ) -> ConnectParams {
        ConnectParams {
            host,
            user,
            password,
            init: Vec::new(),
            tls,
        }
    }

    /// The host being connected to.
    pub fn host(&self) -> &HostAddr {
        &self.host
    }
    /// The user name.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    /// Whether a password is set (it is never shown).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }
    /// Statements run right after connecting, and again after a pool resets the connection,
    /// in order.
    pub fn init(&self) -> &[String] {
        &self.init
    }
    /// The TLS settings.
    pub fn tls(&self) -> &TlsOpts {
        &self.tls
    }

    /// Sets the user name.
    pub fn set_user(&mut self, user: impl Into<String>) -> &mut Self {
        self.user = Some(user.into());
        self
    }
    /// Sets the password (an IAM token, a rotated secret).
    pub fn set_password(&mut self, password: impl Into<String>) -> &mut Self {
        self.password = Some(password.into());
        self
    }
    /// Adds a statement to run right after connecting and after each reset
    /// (`SET time_zone = '+00:00'`).
    pub fn push_init(&mut self, sql: impl Into<String>) -> &mut Self {
        self.init.push(sql.into());
        self
    }
    /// The TLS settings, to change (a rotated client certificate, a CA bundle).
    pub fn tls_mut(&mut self) -> &mut TlsOpts {
        &mut self.tls
    }
}

impl fmt::Debug for ConnectParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectParams")
            .field("host", &self.host)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("init", &self.init)
            .field("tls", &self.tls)
            .finish()
    }
}
