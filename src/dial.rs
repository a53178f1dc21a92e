//! One physical connection to one host, in named steps (as tokio-postgres's `connect.rs`
//! splits connecting): run the connect hook, then open the connection with TLS as
//! `ssl_mode` asks, falling back to plain text only for `preferred`, and say what went wrong
//! with TLS in words that name the host and what did not match.
//!
//! Every step is bounded by `connect_timeout`, each separately: the hook is the
//! application's code (a token service may be slow), and its time is not held against the
//! host; the connect's is. The `mysql_async::Opts` for a host are built once and reused, so
//! `mysql_async`'s TLS connector, which it caches per `Opts`, is built once per host too (it
//! reads the CA file); a hook that changes nothing costs no rebuild.
//!
//! Which failures are the host's (the balancer blacklists the host and tries the next):
//! a refused certificate and a missing TLS offer, besides the exception checker's usual
//! I/O errors and timeouts. One host with a bad certificate must not stop traffic to the
//! others, which may well be configured right; if every host is refused, the caller gets the
//! list of hosts, each with its reason. A failing hook is never the host's.

use std::time::Duration;

use mysql_async::{Conn, DriverError};
use tokio::time::{Instant, timeout, timeout_at};

use crate::addr::HostAddr;
use crate::error::Error;
use crate::opts::{ConnectHook, ConnectParams, LbOpts, SslMode, TlsOpts};

/// How to open connections to one host.
pub(crate) struct Dialer {
    addr: HostAddr,
    /// The options as configured (for `preferred`: with TLS, unchecked).
    opts: mysql_async::Opts,
    /// The same in plain text, for `preferred` against a server without TLS.
    plain: Option<mysql_async::Opts>,
    /// The hook, and the parameters it starts from.
    hook: Option<(ConnectHook, ConnectParams)>,
    tls: TlsOpts,
    bound: Duration,
}

impl Dialer {
    /// A dialer for `addr` with `opts`' credentials, TLS, hook and bounds.
    pub(crate) fn new(opts: &LbOpts, addr: &HostAddr) -> Dialer {
        let tls = opts.tls().clone();
        if tls.enabled() {
            install_crypto_provider();
        }
        let base = opts.mysql_opts(addr);
        Dialer {
            addr: addr.clone(),
            plain: (tls.mode() == SslMode::Preferred).then(|| base.clone().ssl_opts(None).into()),
            opts: base.into(),
            hook: opts.connect_hook().map(|h| {
                let params = ConnectParams::new(
                    addr.clone(),
                    opts.user().map(str::to_owned),
                    opts.password.clone(),
                    tls.clone(),
                );
                (h.clone(), params)
            }),
            tls,
            bound: opts.connect_timeout(),
        }
    }

    /// The longest a [`Dialer::dial`] takes: the connect's bound, and the hook's if any.
    pub(crate) fn bound(&self) -> Duration {
        if self.hook.is_some() {
            self.bound * 2
        } else {
            self.bound
        }
    }

    /// Opens one connection: hook, then connect (with the `preferred` fallback).
    pub(crate) async fn dial(&self) -> mysql_async::Result<Conn> {
        let Some((hook, base)) = &self.hook else {
            return self
                .connect(&self.opts, self.plain.as_ref(), &self.tls)
                .await;
        };
        let params = self.run_hook(hook, base).await?;
        if params == *base {
            return self
                .connect(&self.opts, self.plain.as_ref(), &self.tls)
                .await;
        }
        let mut b = mysql_async::OptsBuilder::from_opts(self.opts.clone())
            .user(params.user.clone())
            .pass(params.password.clone())
            // `setup`, not `init`: it runs again after a pool's reset. mysql_async runs the
            // list from its end, hence reversed.
            .setup(params.init.iter().rev().cloned().collect::<Vec<_>>());
        if params.tls != base.tls {
            if params.tls.enabled() {
                install_crypto_provider();
            }
            b = b.ssl_opts(params.tls.ssl_opts());
        }
        let plain =
            (params.tls.mode() == SslMode::Preferred).then(|| b.clone().ssl_opts(None).into());
        self.connect(&b.into(), plain.as_ref(), &params.tls).await
    }

    /// Step 1: the application's hook, bounded; its failures are not the host's.
    async fn run_hook(
        &self,
        hook: &ConnectHook,
        base: &ConnectParams,
    ) -> mysql_async::Result<ConnectParams> {
        let failed = |source| Error::ConnectHook {
            host: self.addr.clone(),
            source,
        };
        let params = match timeout(self.bound, hook.call(base.clone())).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(failed(e).into_mysql()),
            Err(_) => {
                let why = format!("it took longer than connect_timeout ({:?})", self.bound);
                return Err(failed(why.into()).into_mysql());
            }
        };
        if let Some((name, why)) = params.tls.problem() {
            return Err(failed(format!("it set {name}: {why}").into()).into_mysql());
        }
        Ok(params)
    }

    /// Step 2: the connection, with TLS as `tls` says; for `preferred` once more in plain
    /// text if the server offers no TLS. Both tries share one `connect_timeout`.
    async fn connect(
        &self,
        opts: &mysql_async::Opts,
        plain: Option<&mysql_async::Opts>,
        tls: &TlsOpts,
    ) -> mysql_async::Result<Conn> {
        let deadline = Instant::now() + self.bound;
        let timed_out = || {
            Error::Timeout {
                host: self.addr.clone(),
                step: "connect",
                after: self.bound,
            }
            .into_mysql()
        };
        match timeout_at(deadline, Conn::new(opts.clone())).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer)))
                if plain.is_some() =>
            {
                let plain = plain.expect("checked").clone();
                timeout_at(deadline, Conn::new(plain))
                    .await
                    .unwrap_or_else(|_| Err(timed_out()))
            }
            Ok(Err(e)) => Err(self.explain_tls(e, tls)),
            Err(_) => Err(timed_out()),
        }
    }

    /// Turns a TLS failure into [`Error::Tls`], naming the host and what did not match;
    /// other errors pass unchanged.
    fn explain_tls(&self, e: mysql_async::Error, tls: &TlsOpts) -> mysql_async::Error {
        let reason = match &e {
            mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => format!(
                "the server offers no TLS, and ssl_mode={} never falls back to plain text",
                tls.mode()
            ),
            #[cfg(any(feature = "rustls", feature = "native-tls"))]
            mysql_async::Error::Io(mysql_async::IoError::Tls(t)) => {
                format!(
                    "{} ({t})",
                    what_did_not_match(&t.to_string(), tls, &self.addr)
                )
            }
            mysql_async::Error::Io(mysql_async::IoError::Io(io)) => match rustls_error(io) {
                Some(inner) => format!("{} ({inner})", what_did_not_match(&inner, tls, &self.addr)),
                None => return e,
            },
            _ => return e,
        };
        Error::Tls {
            host: self.addr.clone(),
            reason,
        }
        .into_mysql()
    }
}

/// The plain-words part of a TLS error, from the TLS library's message (rustls and OpenSSL
/// word them differently).
#[cfg(any(feature = "rustls", feature = "native-tls"))]
fn what_did_not_match(text: &str, tls: &TlsOpts, addr: &HostAddr) -> String {
    let t = text.to_ascii_lowercase();
    let trusted = match tls.ca() {
        Some(ca) => format!("ssl_ca ({})", ca.display()),
        None => "the built-in roots".to_owned(),
    };
    if t.contains("unknownissuer")
        || t.contains("unknown issuer")
        || t.contains("issuer certificate")
        || t.contains("self-signed")
        || t.contains("self signed")
    {
        format!("the server's certificate is not signed by a CA in {trusted}")
    } else if t.contains("notvalidforname")
        || t.contains("not valid for name")
        || t.contains("hostname mismatch")
        || t.contains("ip address mismatch")
    {
        let name = tls.server_name().unwrap_or(addr.host());
        let rustls_checks_anyway =
            if cfg!(feature = "rustls") && tls.mode() != SslMode::VerifyIdentity {
                "; with the rustls feature the name is checked under every mode that checks the CA \
             (mysql_async 0.37's issue #404)"
            } else {
                ""
            };
        format!(
            "the server's certificate is not for the name `{name}` (set ssl_server_name to a \
             name it has, or list the host by that name{rustls_checks_anyway})"
        )
    } else if t.contains("expired") || t.contains("notvalidyet") || t.contains("not yet valid") {
        "the server's certificate has expired or is not valid yet".to_owned()
    } else {
        "the TLS handshake failed".to_owned()
    }
}

/// The rustls error inside an I/O error, as tokio-rustls reports a failed handshake (an
/// `io::Error` around an `io::Error` around rustls's), as text.
fn rustls_error(io: &std::io::Error) -> Option<String> {
    #[cfg(feature = "rustls")]
    {
        let mut at: &(dyn std::error::Error + 'static) = io.get_ref()?;
        for _ in 0..4 {
            if let Some(e) = at.downcast_ref::<rustls::Error>() {
                return Some(e.to_string());
            }
            at = match at.downcast_ref::<std::io::Error>() {
                Some(inner) => inner.get_ref()?,
                None => at.source()?,
            };
        }
    }
    let _ = io;
    None
}

/// With rustls, makes sure a process-wide crypto provider exists: if the application's build
/// has two compiled in (it enables aws-lc-rs as well), rustls cannot choose and would panic at
/// the first handshake. An application that installed its own keeps it.
fn install_crypto_provider() {
    #[cfg(feature = "rustls")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                let _ = rustls::crypto::ring::default_provider().install_default();
            }
        });
    }
}
