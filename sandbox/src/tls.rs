//! [`TestCerts`]: a throw-away PKI for TLS tests, made with `rcgen` at test time.
//!
//! Nothing is checked in and nothing expires between runs: every call makes fresh keys and
//! certificates valid from yesterday (so a clock a little behind does not matter) to a year
//! from now, and writes them as PEM files. Keys are ECDSA P-256 in PKCS#8
//! (`-----BEGIN PRIVATE KEY-----`), which both MariaDB's OpenSSL (as `--ssl-key`) and rustls
//! (as a client identity) read.
//!
//! The set:
//! - a trusted CA (`ca.pem`); its key stays in memory and is dropped after signing;
//! - a server certificate for `127.0.0.1`, `::1` (IP SANs) and `localhost` (DNS SAN);
//! - a client certificate (CN `mysql_lb test client`) for `REQUIRE X509` accounts;
//! - an unrelated second CA (`other-ca.pem`), for "wrong CA" tests;
//! - a server certificate signed by the trusted CA but naming only `db.example.invalid`,
//!   for "wrong name" tests.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::error::SandboxError;
use super::tempdirs::{CERTS_PREFIX, create_owned_dir, sweep_stale};

/// The only DNS name [`TestCerts::wrong_name_cert`] is valid for.
pub const WRONG_NAME: &str = "db.example.invalid";

/// CA, server and client certificates and keys as PEM files in one directory, for TLS
/// tests against sandbox servers (see [`SandboxOptions::tls`](super::SandboxOptions::tls)).
///
/// Every path field names a file that exists as long as the directory does. The files must
/// outlive the servers that use them (`mariadbd` reads them at start-up and again on
/// restart), so keep the `TestCerts` alive as long as the [`Sandbox`](super::Sandbox).
///
/// ```no_run
/// # async fn demo() -> Result<(), mysql_lb_sandbox::SandboxError> {
/// use mysql_lb_sandbox::{Sandbox, SandboxOptions, TestCerts};
/// let certs = TestCerts::generate_temp()?;
/// let sandbox =
///     Sandbox::start_with(1, SandboxOptions::default().tls(&certs).require_secure_transport())
///         .await?;
/// sandbox.sql(0, "SELECT 1").await?; // the sandbox's own connections use TLS too
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TestCerts {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// The trusted CA's certificate (`ca.pem`): give it to clients as root certificate and
    /// to `mariadbd` as `--ssl-ca` (it then accepts client certificates signed by it).
    pub ca: PathBuf,
    /// The server certificate (`server-cert.pem`), signed by [`TestCerts::ca`], valid for
    /// `127.0.0.1`, `::1` and `localhost`.
    pub server_cert: PathBuf,
    /// The key of [`TestCerts::server_cert`] (`server-key.pem`, PKCS#8).
    pub server_key: PathBuf,
    /// A client certificate (`client-cert.pem`, CN `mysql_lb test client`), signed by
    /// [`TestCerts::ca`].
    pub client_cert: PathBuf,
    /// The key of [`TestCerts::client_cert`] (`client-key.pem`, PKCS#8).
    pub client_key: PathBuf,
    /// A second CA (`other-ca.pem`) that signed nothing here: trusting only it must fail.
    pub other_ca: PathBuf,
    /// A server certificate (`wrong-name-cert.pem`) signed by [`TestCerts::ca`] but valid
    /// only for the DNS name [`WRONG_NAME`], so verifying it against `127.0.0.1` fails.
    pub wrong_name_cert: PathBuf,
    /// The key of [`TestCerts::wrong_name_cert`] (`wrong-name-key.pem`, PKCS#8).
    pub wrong_name_key: PathBuf,
    /// Whether `dir` is ours to remove on drop (made by [`TestCerts::generate_temp`]).
    owns_dir: bool,
}

impl TestCerts {
    /// Makes fresh certificates and keys and writes them into `dir` (which must exist),
    /// overwriting files of the same names. The directory is left in place on drop.
    pub fn generate(dir: &Path) -> Result<TestCerts, SandboxError> {
        let certs = TestCerts::at(dir.to_path_buf(), false);
        certs.write_all()?;
        Ok(certs)
    }

    /// [`TestCerts::generate`] into a new temp dir of its own, removed again on drop. The
    /// dir sits next to the sandboxes' dirs and is swept the same way when the process
    /// dies without dropping it, or at normal exit when it is never dropped (a `static`).
    pub fn generate_temp() -> Result<TestCerts, SandboxError> {
        sweep_stale();
        let dir = create_owned_dir(CERTS_PREFIX)
            .map_err(|e| SandboxError::io("creating the certificates dir", e))?;
        super::exit::register_dir(&dir);
        let certs = TestCerts::at(dir, true);
        // On an error, dropping `certs` removes the dir again.
        certs.write_all()?;
        Ok(certs)
    }

    fn at(dir: PathBuf, owns_dir: bool) -> TestCerts {
        TestCerts {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server-cert.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client-cert.pem"),
            client_key: dir.join("client-key.pem"),
            other_ca: dir.join("other-ca.pem"),
            wrong_name_cert: dir.join("wrong-name-cert.pem"),
            wrong_name_key: dir.join("wrong-name-key.pem"),
            dir,
            owns_dir,
        }
    }

    fn write_all(&self) -> Result<(), SandboxError> {
        let (ca_pem, ca) = new_ca("mysql_lb test CA")?;
        write(&self.ca, &ca_pem)?;
        let (other_ca_pem, _) = new_ca("mysql_lb unrelated test CA")?;
        write(&self.other_ca, &other_ca_pem)?;

        let server = leaf(
            "mysql_lb test server",
            &["127.0.0.1", "::1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &ca,
        )?;
        write(&self.server_cert, &server.0)?;
        write(&self.server_key, &server.1)?;

        let client = leaf(
            "mysql_lb test client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            &ca,
        )?;
        write(&self.client_cert, &client.0)?;
        write(&self.client_key, &client.1)?;

        let wrong = leaf(
            "mysql_lb wrong-name server",
            &[WRONG_NAME],
            ExtendedKeyUsagePurpose::ServerAuth,
            &ca,
        )?;
        write(&self.wrong_name_cert, &wrong.0)?;
        write(&self.wrong_name_key, &wrong.1)?;
        Ok(())
    }
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
            super::exit::unregister_dir(&self.dir);
        }
    }
}

fn cert_error(what: &str, e: rcgen::Error) -> SandboxError {
    SandboxError::io(format!("making the {what}"), std::io::Error::other(e))
}

/// Parameters with a common name and a validity of yesterday to a year from now.
fn params(cn: &str, names: &[&str]) -> Result<CertificateParams, SandboxError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut p = CertificateParams::new(names).map_err(|e| cert_error("certificate names", e))?;
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(365);
    Ok(p)
}

/// A self-signed CA: its certificate as PEM, and the issuer that signs with its key.
fn new_ca(cn: &str) -> Result<(String, Issuer<'static, KeyPair>), SandboxError> {
    let key = KeyPair::generate().map_err(|e| cert_error("CA key", e))?;
    let mut p = params(cn, &[])?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).map_err(|e| cert_error("CA", e))?;
    Ok((cert.pem(), Issuer::new(p, key)))
}

/// A leaf certificate signed by `ca`: (certificate PEM, PKCS#8 key PEM).
fn leaf(
    cn: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    ca: &Issuer<'_, KeyPair>,
) -> Result<(String, String), SandboxError> {
    let key = KeyPair::generate().map_err(|e| cert_error("key", e))?;
    let mut p = params(cn, names)?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    let cert = p
        .signed_by(&key, ca)
        .map_err(|e| cert_error("certificate", e))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(path: &Path, pem: &str) -> Result<(), SandboxError> {
    std::fs::write(path, pem)
        .map_err(|e| SandboxError::io(format!("writing {}", path.display()), e))
}
