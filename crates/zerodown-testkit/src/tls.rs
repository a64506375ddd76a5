//! Certificates for TLS tests: a certificate authority of the test's own and the server
//! and client certificates it signs, written as PEM files in a folder the test owns.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A test certificate authority and the folder its files live in.
pub struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key (0600), as files.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    /// A new authority named `name`; its certificate is in [`Pki::ca_file`].
    pub fn new(name: &str) -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("zerodown-pki-")
            .tempdir()
            .expect("temp dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let ca = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        std::fs::write(dir.path().join("ca.crt"), ca.pem()).expect("write ca.crt");
        Pki { dir, ca }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub fn folder(&self) -> &Path {
        self.dir.path()
    }

    /// A certificate for `common_name` valid for `names` (host names or IP addresses),
    /// signed by this authority, as `<file>.crt` and `<file>.key`.
    pub fn issue(&self, file: &str, common_name: &str, names: &[&str]) -> Issued {
        self.issue_with(KeyPair::generate().expect("key"), file, common_name, names)
    }

    /// [`Pki::issue`] with an RSA key written as PKCS#1 (`BEGIN RSA PRIVATE KEY`), the
    /// only client key form the MySQL driver reads (by `openssl pkey -traditional`).
    pub fn issue_rsa(&self, file: &str, common_name: &str, names: &[&str]) -> Issued {
        let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let issued = self.issue_with(key, file, common_name, names);
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-traditional", "-in"])
            .arg(&issued.key)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&issued.key, out.stdout).expect("write key");
        issued
    }

    fn issue_with(&self, key: KeyPair, file: &str, common_name: &str, names: &[&str]) -> Issued {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        let issued = Issued {
            cert: self.dir.path().join(format!("{file}.crt")),
            key: self.dir.path().join(format!("{file}.key")),
        };
        std::fs::write(&issued.cert, cert.pem()).expect("write cert");
        std::fs::write(&issued.key, key.serialize_pem()).expect("write key");
        std::fs::set_permissions(&issued.key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod key");
        issued
    }
}
