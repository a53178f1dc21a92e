//! TLS settings, in the vocabulary of MySQL's own clients.
//!
//! MySQL's `--ssl-mode` (and Connector/J's `sslMode`) names five levels, each a promise about
//! what the connection gets:
//!
//! | `ssl_mode` | encrypted | server certificate checked | falls back to plain text |
//! |---|---|---|---|
//! | `disabled` | no | - | - |
//! | `preferred` | if the server offers TLS | no | yes, when the server has no TLS |
//! | `required` | yes | no (with `ssl_ca`: the CA, as `verify_ca`) | never |
//! | `verify_ca` | yes | signed by `ssl_ca` (or the built-in roots) | never |
//! | `verify_identity` | yes | as `verify_ca`, and it names the host | never |
//!
//! They map onto `mysql_async`'s `SslOpts`, which has one switch per check
//! (`accept_invalid_certs`, `skip_domain_validation`) and no "preferred": a server without
//! TLS fails the handshake with `NoClientSslFlagFromServer`, and the dialer (`dial.rs`) then
//! connects once more in plain text, only for `preferred`. `required` with a CA file checks
//! the CA, as MySQL's client does, so a file given is never silently ignored. When `ssl_ca`
//! is given it is the only trust anchor (a public CA could otherwise vouch for anyone); without
//! it, `verify_ca` and `verify_identity` trust the built-in roots (webpki's, or the system's
//! under `native-tls`), which is what managed services with public certificates need.
//!
//! One gap, not ours to close: with the `rustls` feature, `mysql_async` 0.37 checks the name
//! even where it is told not to (`skip_domain_validation` looks for a word that rustls 0.23 no
//! longer prints; mysql_async issue #404), so `verify_ca` (and `required` with a CA) behave as
//! `verify_identity` there; `ssl_server_name` names what the certificate has. `native-tls` is
//! not affected. The error says so when it happens.
//!
//! The default is `disabled`, as in `mysql_async`, MariaDB Connector/J and go-sql-driver:
//! `preferred` checks nothing, so it protects from a passive listener only, and costs a TLS
//! handshake per connection; a deployment that needs TLS says so, and then gets exactly the
//! level it asked for.

use std::fmt;
use std::path::{Path, PathBuf};

/// How much TLS a connection must have (MySQL's `--ssl-mode`, Connector/J's `sslMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SslMode {
    /// Plain text.
    #[default]
    Disabled,
    /// TLS when the server offers it, plain text otherwise; the certificate is not checked.
    Preferred,
    /// TLS or no connection; the certificate is not checked unless a CA file is given.
    Required,
    /// TLS with a certificate signed by a trusted CA, whatever name it has.
    VerifyCa,
    /// TLS with a trusted certificate for the host's name (or `ssl_server_name`).
    VerifyIdentity,
}

impl SslMode {
    /// Reads a mode as MySQL (`VERIFY_IDENTITY`), Connector/J, MariaDB Connector/J
    /// (`disable`, `trust`, `verify-ca`, `verify-full`) and libpq (`require`, `prefer`)
    /// write it, in any case; `true`/`false` as Connector/J's `useSSL` means them.
    pub fn parse(value: &str) -> Result<SslMode, String> {
        let v = value.trim().to_ascii_lowercase().replace('-', "_");
        Ok(match v.as_str() {
            "disabled" | "disable" | "false" | "off" => SslMode::Disabled,
            "preferred" | "prefer" | "true" => SslMode::Preferred,
            "required" | "require" | "trust" => SslMode::Required,
            "verify_ca" => SslMode::VerifyCa,
            "verify_identity" | "verify_full" => SslMode::VerifyIdentity,
            _ => {
                return Err(
                    "expected disabled, preferred, required, verify_ca or verify_identity"
                        .to_owned(),
                );
            }
        })
    }

    /// The name as our options write it.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disabled => "disabled",
            SslMode::Preferred => "preferred",
            SslMode::Required => "required",
            SslMode::VerifyCa => "verify_ca",
            SslMode::VerifyIdentity => "verify_identity",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The TLS part of the options: the mode and the files. Read from the URL (`ssl_mode`,
/// `ssl_ca`, `ssl_cert`, `ssl_key`, `ssl_server_name`) or set with the builder; a connect
/// hook may change it per connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlsOpts {
    mode: SslMode,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    server_name: Option<String>,
}

impl TlsOpts {
    /// The mode.
    pub fn mode(&self) -> SslMode {
        self.mode
    }
    /// The CA file (PEM) the server's certificate must chain to, if given.
    pub fn ca(&self) -> Option<&Path> {
        self.ca.as_deref()
    }
    /// The client certificate chain (PEM), if given.
    pub fn cert(&self) -> Option<&Path> {
        self.cert.as_deref()
    }
    /// The client certificate's private key (PEM), if given.
    pub fn key(&self) -> Option<&Path> {
        self.key.as_deref()
    }
    /// The name the server's certificate must have, when it is not the host's name.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Sets the mode.
    pub fn set_mode(&mut self, mode: SslMode) -> &mut Self {
        self.mode = mode;
        self
    }
    /// Sets the CA file (PEM; several certificates may follow one another).
    pub fn set_ca(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.ca = Some(path.into());
        self
    }
    /// Sets the client certificate chain and its key (PEM files), for `REQUIRE X509`
    /// accounts.
    pub fn set_client_cert(
        &mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> &mut Self {
        self.cert = Some(cert.into());
        self.key = Some(key.into());
        self
    }
    /// Sets the name checked against the certificate under `verify_identity` (a tunnel, or a
    /// host listed by IP address whose certificate has only its DNS name).
    pub fn set_server_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.server_name = Some(name.into());
        self
    }

    pub(crate) fn set_cert_only(&mut self, path: PathBuf) {
        self.cert = Some(path);
    }
    pub(crate) fn set_key_only(&mut self, path: PathBuf) {
        self.key = Some(path);
    }

    /// Whether connections try TLS at all.
    pub fn enabled(&self) -> bool {
        self.mode != SslMode::Disabled
    }

    /// What is wrong with these settings, naming the option: a file that cannot be read, a
    /// certificate without its key, files with `disabled`, TLS in a build without it.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if !self.enabled() {
            let given = [
                ("ssl_ca", self.ca.is_some()),
                ("ssl_cert", self.cert.is_some()),
                ("ssl_key", self.key.is_some()),
                ("ssl_server_name", self.server_name.is_some()),
            ];
            return given.iter().find(|(_, g)| *g).map(|(name, _)| {
                (
                    *name,
                    format!(
                        "{name} has no effect with ssl_mode=disabled (the default); add \
                         ssl_mode=verify_identity (or required, verify_ca)"
                    ),
                )
            });
        }
        if !cfg!(any(feature = "rustls", feature = "native-tls")) {
            return Some((
                "ssl_mode",
                "this build has no TLS: enable the crate feature `rustls` (a default) or \
                 `native-tls`"
                    .to_owned(),
            ));
        }
        match (&self.cert, &self.key) {
            (Some(_), None) => return Some(("ssl_cert", "ssl_cert needs ssl_key".to_owned())),
            (None, Some(_)) => return Some(("ssl_key", "ssl_key needs ssl_cert".to_owned())),
            (Some(_), Some(_)) if cfg!(feature = "native-tls") => {
                return Some((
                    "ssl_cert",
                    "client certificates are supported with the `rustls` feature only \
                     (mysql_async's native-tls takes a PKCS#12 archive, which this crate does \
                     not read)"
                        .to_owned(),
                ));
            }
            _ => {}
        }
        for (name, path) in [
            ("ssl_ca", &self.ca),
            ("ssl_cert", &self.cert),
            ("ssl_key", &self.key),
        ] {
            if let Some(path) = path
                && let Err(e) = std::fs::File::open(path)
            {
                return Some((name, format!("cannot read {name} {}: {e}", path.display())));
            }
        }
        if let Some(name) = &self.server_name
            && (name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '/'))
        {
            return Some((
                "ssl_server_name",
                "ssl_server_name must be a host name or an IP address".to_owned(),
            ));
        }
        None
    }

    /// `mysql_async`'s settings for these, `None` for plain text. `preferred` gets TLS here;
    /// its fallback is the dialer's.
    pub(crate) fn ssl_opts(&self) -> Option<mysql_async::SslOpts> {
        if !self.enabled() {
            return None;
        }
        let check_ca = match self.mode {
            SslMode::Disabled | SslMode::Preferred => false,
            SslMode::Required => self.ca.is_some(),
            SslMode::VerifyCa | SslMode::VerifyIdentity => true,
        };
        let mut ssl = mysql_async::SslOpts::default()
            .with_danger_accept_invalid_certs(!check_ca)
            .with_danger_skip_domain_validation(self.mode != SslMode::VerifyIdentity)
            .with_danger_tls_hostname_override(self.server_name.clone());
        if let Some(ca) = &self.ca {
            ssl = ssl
                .with_root_certs(vec![ca.clone().into()])
                .with_disable_built_in_roots(true);
        }
        #[cfg(feature = "rustls")]
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            ssl = ssl.with_client_identity(Some(mysql_async::ClientIdentity::new(
                cert.clone().into(),
                key.clone().into(),
            )));
        }
        Some(ssl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_read_in_every_vocabulary() {
        for (given, want) in [
            ("VERIFY_IDENTITY", SslMode::VerifyIdentity),
            ("verify-full", SslMode::VerifyIdentity),
            ("verify-ca", SslMode::VerifyCa),
            ("trust", SslMode::Required),
            ("REQUIRED", SslMode::Required),
            ("prefer", SslMode::Preferred),
            ("true", SslMode::Preferred),
            ("disable", SslMode::Disabled),
            ("false", SslMode::Disabled),
        ] {
            assert_eq!(SslMode::parse(given), Ok(want), "{given}");
        }
        assert!(SslMode::parse("strict").is_err());
    }

    #[test]
    fn files_need_a_mode_and_a_cert_needs_its_key() {
        let mut t = TlsOpts::default();
        t.set_ca("/nonexistent/ca.pem");
        assert_eq!(t.problem().unwrap().0, "ssl_ca");
        t.set_mode(SslMode::VerifyIdentity);
        let (name, why) = t.problem().unwrap();
        assert_eq!(name, "ssl_ca");
        assert!(why.contains("/nonexistent/ca.pem"), "{why}");
        let mut t = TlsOpts::default();
        t.set_mode(SslMode::Required);
        t.set_cert_only("/etc/hostname".into());
        assert_eq!(t.problem().unwrap().1, "ssl_cert needs ssl_key");
    }

    #[cfg(feature = "rustls")]
    #[test]
    fn each_mode_checks_what_it_promises() {
        let mut t = TlsOpts::default();
        assert!(t.ssl_opts().is_none());
        t.set_mode(SslMode::Required);
        let s = t.ssl_opts().unwrap();
        assert!(s.accept_invalid_certs() && s.skip_domain_validation());
        t.set_ca("/ca.pem");
        let s = t.ssl_opts().unwrap();
        assert!(!s.accept_invalid_certs(), "a CA given is checked");
        assert!(s.disable_built_in_roots(), "and is the only trust anchor");
        t.set_mode(SslMode::VerifyIdentity);
        let s = t.ssl_opts().unwrap();
        assert!(!s.accept_invalid_certs() && !s.skip_domain_validation());
    }
}
