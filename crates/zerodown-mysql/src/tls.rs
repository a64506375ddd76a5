//! Connection URLs with MySQL's own TLS names (`ssl-mode`, `ssl-ca`, `ssl-cert`,
//! `ssl-key`, as the mysql client and Connector/J read them), turned into
//! mysql_async's options over rustls. The default is PREFERRED, as the mysql client's:
//! TLS when the server offers it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use std::path::PathBuf;

use mysql_async::{ClientIdentity, Conn, Opts, OptsBuilder, SslOpts};

use crate::MyError;

/// MySQL's `--ssl-mode`, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, MyError> {
        Ok(match text.to_ascii_uppercase().as_str() {
            "DISABLED" => SslMode::Disabled,
            "PREFERRED" => SslMode::Preferred,
            "REQUIRED" => SslMode::Required,
            "VERIFY_CA" => SslMode::VerifyCa,
            "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
            other => {
                return Err(MyError::Url(format!(
                    "invalid ssl-mode \"{other}\": use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                )))
            }
        })
    }
}

/// Options to connect with, and whether TLS may be dropped for a server without it.
#[derive(Debug, Clone)]
pub struct ConnOpts {
    pub opts: Opts,
    pub mode: SslMode,
    /// VERIFY_CA's roots (PEM or DER), to find a name the certificate holds.
    ca_roots: Arc<Vec<Vec<u8>>>,
}

/// Servers (host:port) and the certificate name VERIFY_CA checks them under.
static CA_NAMES: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// Servers (host:port) seen without TLS: PREFERRED goes plain to them at once.
static PLAIN_SERVERS: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn server_key(opts: &Opts) -> String {
    format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port())
}

impl ConnOpts {
    /// Reads a `mysql://` or `mariadb://` URL.
    pub fn from_url(url: &str) -> Result<ConnOpts, MyError> {
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_owned(),
        };
        let (rest, ours) = split(&url)?;
        let opts = Opts::from_url(&rest).map_err(|e| MyError::Url(e.to_string()))?;
        let get = |key: &str| {
            ours.iter()
                .rev()
                .find(|(k, _)| k.replace('_', "-") == key)
                .map(|(_, v)| v.clone())
        };
        let mode = get("ssl-mode")
            .map(|m| SslMode::parse(&m))
            .transpose()?
            .unwrap_or(SslMode::Preferred);
        let ca = get("ssl-ca");
        let identity = match (get("ssl-cert"), get("ssl-key")) {
            (Some(cert), Some(key)) => {
                rsa_pkcs1(&key)?;
                Some(ClientIdentity::new(
                    PathBuf::from(cert).into(),
                    PathBuf::from(key).into(),
                ))
            }
            (None, None) => None,
            _ => {
                return Err(MyError::Url(
                    "ssl-cert and ssl-key go together: give both".to_owned(),
                ))
            }
        };
        if mode == SslMode::Disabled {
            return Ok(ConnOpts {
                opts,
                mode,
                ca_roots: Arc::default(),
            });
        }
        let mut ca_roots = Vec::new();
        let verify = mode >= SslMode::VerifyCa;
        let mut ssl = SslOpts::default()
            .with_client_identity(identity)
            .with_danger_accept_invalid_certs(!verify)
            .with_danger_skip_domain_validation(mode != SslMode::VerifyIdentity)
            // Verified, the roots are ssl-ca's or the operating system's, not a bundled
            // list; unverified, the bundled list only keeps the verifier buildable.
            .with_disable_built_in_roots(verify);
        if verify {
            // mysql_async takes its own PathOrBuf, which it does not export by name.
            ssl = match roots(ca.as_deref())? {
                Roots::File(path) => {
                    ca_roots = std::fs::read(&path).map(|b| vec![b]).unwrap_or_default();
                    ssl.with_root_certs(vec![path.into()])
                }
                Roots::System(certs) => {
                    ca_roots.clone_from(&certs);
                    ssl.with_root_certs(certs.into_iter().map(Into::into).collect())
                }
            };
        }
        let builder = OptsBuilder::from_opts(opts)
            .ssl_opts(ssl)
            // A Unix socket carries no TLS: asked for TLS, stay on TCP.
            .prefer_socket(mode == SslMode::Preferred);
        Ok(ConnOpts {
            opts: builder.into(),
            mode,
            ca_roots: Arc::new(ca_roots),
        })
    }

    /// Connects; PREFERRED goes on without TLS when the server offers none.
    pub async fn connect(&self) -> Result<Conn, mysql_async::Error> {
        if self.mode == SslMode::VerifyCa {
            return self.connect_verify_ca().await;
        }
        if self.mode != SslMode::Preferred {
            return Conn::new(self.opts.clone())
                .await
                .map_err(|e| self.explained(e));
        }
        let key = server_key(&self.opts);
        let plain = || OptsBuilder::from_opts(self.opts.clone()).ssl_opts(None::<SslOpts>);
        if known_plain(&key) {
            return Conn::new(plain()).await;
        }
        match Conn::new(self.opts.clone()).await {
            Err(e) if offers_no_tls(&e) => {
                if let Ok(mut seen) = PLAIN_SERVERS.lock() {
                    seen.get_or_insert_with(HashSet::new).insert(key);
                }
                Conn::new(plain()).await
            }
            other => other,
        }
    }

    /// VERIFY_CA: the chain, not the name. The driver checks the name too (see
    /// tls_names.rs), so when the host is not in the certificate, the connection is
    /// checked under a name the certificate holds, after its chain was checked.
    async fn connect_verify_ca(&self) -> Result<Conn, mysql_async::Error> {
        let key = server_key(&self.opts);
        let under = |name: String| {
            let ssl = self
                .opts
                .ssl_opts()
                .cloned()
                .unwrap_or_default()
                .with_danger_tls_hostname_override(Some(name));
            OptsBuilder::from_opts(self.opts.clone()).ssl_opts(ssl)
        };
        let known = CA_NAMES
            .lock()
            .ok()
            .and_then(|m| m.as_ref().and_then(|m| m.get(&key).cloned()));
        if let Some(name) = known {
            return Conn::new(under(name)).await.map_err(|e| self.explained(e));
        }
        match Conn::new(self.opts.clone()).await {
            Err(e) if e.to_string().contains("not valid for name") => {
                let host = self.opts.ip_or_hostname().to_owned();
                let names = crate::tls_names::certificate_names(
                    &host,
                    self.opts.tcp_port(),
                    &self.ca_roots,
                )
                .await
                .map_err(|why| {
                    mysql_async::Error::Other(format!("ssl-mode=VERIFY_CA: {why}").into())
                })?;
                let Some(name) = names.into_iter().next() else {
                    return Err(self.explained(e));
                };
                if let Ok(mut m) = CA_NAMES.lock() {
                    m.get_or_insert_with(HashMap::new).insert(key, name.clone());
                }
                Conn::new(under(name)).await.map_err(|e| self.explained(e))
            }
            other => other.map_err(|e| self.explained(e)),
        }
    }

    /// The driver's error with what to do about it, where the driver's words are unclear.
    fn explained(&self, e: mysql_async::Error) -> mysql_async::Error {
        let why = if offers_no_tls(&e) {
            format!(
                "the server offers no TLS and ssl-mode={:?} requires it: turn TLS on at the server, or use ssl-mode=PREFERRED",
                self.mode
            )
        } else if self.mode == SslMode::VerifyCa && e.to_string().contains("not valid for name") {
            format!(
                "{e}. The certificate holds no DNS name to check it under (the MySQL driver checks \
                 one even under VERIFY_CA): connect by a name or address the certificate holds"
            )
        } else {
            return e;
        };
        mysql_async::Error::Other(why.into())
    }
}

fn offers_no_tls(e: &mysql_async::Error) -> bool {
    matches!(
        e,
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
    )
}

fn known_plain(key: &str) -> bool {
    PLAIN_SERVERS
        .lock()
        .ok()
        .and_then(|seen| seen.as_ref().map(|s| s.contains(key)))
        .unwrap_or(false)
}

/// The MySQL driver reads an RSA client key in PKCS#1 form only (`BEGIN RSA PRIVATE
/// KEY`, as mysql_ssl_rsa_setup writes it); another form is said before connecting.
fn rsa_pkcs1(key: &str) -> Result<(), MyError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::PrivateKeyDer;
    match PrivateKeyDer::from_pem_file(key) {
        Ok(PrivateKeyDer::Pkcs1(_)) => Ok(()),
        Ok(_) => Err(MyError::Url(format!(
            "ssl-key \"{key}\" is not an RSA key in PKCS#1 form, the only one the MySQL driver reads: \
             convert an RSA key with `openssl pkey -traditional -in {key}`"
        ))),
        Err(e) => Err(MyError::Url(format!("ssl-key \"{key}\": {e}"))),
    }
}

/// Where verified servers' chains must lead.
enum Roots {
    File(PathBuf),
    /// DER certificates of the operating system's store.
    System(Vec<Vec<u8>>),
}
/// The certificates a verified server's chain must lead to: `ssl-ca`'s file, or the
/// operating system's trusted roots.
fn roots(ca: Option<&str>) -> Result<Roots, MyError> {
    if let Some(ca) = ca {
        if !std::path::Path::new(ca).is_file() {
            return Err(MyError::Url(format!("ssl-ca file \"{ca}\" does not exist")));
        }
        return Ok(Roots::File(PathBuf::from(ca)));
    }
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        return Err(MyError::Url(
            "VERIFY_CA and VERIFY_IDENTITY need ssl-ca: the operating system's store has no trusted root"
                .to_owned(),
        ));
    }
    Ok(Roots::System(
        found.certs.into_iter().map(|c| c.to_vec()).collect(),
    ))
}

/// MySQL's TLS names, read here; mysql_async's own TLS switches, refused for them.
const OURS: [&str; 4] = ["ssl-mode", "ssl-ca", "ssl-cert", "ssl-key"];
const THEIRS: [(&str, &str); 6] = [
    ("require_ssl", "ssl-mode=REQUIRED"),
    ("verify_ca", "ssl-mode=VERIFY_CA"),
    ("verify_identity", "ssl-mode=VERIFY_IDENTITY"),
    ("built_in_roots", "ssl-ca"),
    ("ssl-capath", "ssl-ca with one file of certificates"),
    (
        "ssl-crl",
        "a server certificate that is not revoked (CRLs are not read)",
    ),
];

/// Splits MySQL's TLS parameters off the URL; a spelling zerodown does not read is an
/// error that names the one it does.
fn split(url: &str) -> Result<(String, Vec<(String, String)>), MyError> {
    let dashed = |key: &str| key.replace('_', "-");
    let (rest, taken) = zerodown_exec::split_query(url, |key| {
        let key = dashed(key);
        OURS.contains(&key.as_str()) || THEIRS.iter().any(|(k, _)| dashed(k) == key)
    });
    let mut ours = Vec::new();
    for (key, value) in taken {
        if let Some((_, instead)) = THEIRS.iter().find(|(k, _)| dashed(k) == dashed(&key)) {
            return Err(MyError::Url(format!(
                "URL parameter {key} is not read: use {instead}"
            )));
        }
        ours.push((dashed(&key), value));
    }
    Ok((rest, ours))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_names_are_read_and_the_default_is_preferred() {
        let o = ConnOpts::from_url("mysql://u:p@db:3306/app").expect("reads");
        assert_eq!(o.mode, SslMode::Preferred);
        assert!(o.opts.ssl_opts().is_some());
        let o = ConnOpts::from_url("mariadb://u@db/app?ssl-mode=disabled").expect("reads");
        assert_eq!(o.mode, SslMode::Disabled);
        assert!(o.opts.ssl_opts().is_none());
        let o = ConnOpts::from_url("mysql://u@db/app?ssl_mode=REQUIRED").expect("reads");
        let ssl = o.opts.ssl_opts().expect("tls");
        assert!(ssl.accept_invalid_certs() && ssl.skip_domain_validation());
        assert!(!o.opts.prefer_socket());
        assert_eq!(o.opts.db_name(), Some("app"));
    }

    #[test]
    fn verifying_modes_check_the_chain_and_identity_the_name() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").expect("write");
        let url = |mode: &str| format!("mysql://u@db/app?ssl-mode={mode}&ssl-ca={}", ca.display());
        let o = ConnOpts::from_url(&url("VERIFY_CA")).expect("reads");
        let ssl = o.opts.ssl_opts().expect("tls");
        assert!(!ssl.accept_invalid_certs() && ssl.skip_domain_validation());
        assert_eq!(ssl.root_certs().len(), 1);
        let o = ConnOpts::from_url(&url("VERIFY_IDENTITY")).expect("reads");
        let ssl = o.opts.ssl_opts().expect("tls");
        assert!(!ssl.accept_invalid_certs() && !ssl.skip_domain_validation());
        let err = ConnOpts::from_url("mysql://u@db/app?ssl-mode=VERIFY_CA&ssl-ca=/nowhere.pem")
            .expect_err("missing file");
        assert!(err.to_string().contains("/nowhere.pem"), "{err}");
    }

    #[test]
    fn other_spellings_and_bad_values_get_a_clear_error() {
        for (url, says) in [
            ("mysql://u@db/app?require_ssl=true", "ssl-mode=REQUIRED"),
            ("mysql://u@db/app?verify_identity=false", "VERIFY_IDENTITY"),
            ("mysql://u@db/app?ssl-mode=ON", "invalid ssl-mode"),
            ("mysql://u@db/app?ssl-cert=/c.pem", "give both"),
            ("mysql://u@db/app?ssl-crl=/crl.pem", "CRLs"),
        ] {
            let err = ConnOpts::from_url(url).expect_err(url).to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
    }
}
