//! A throw-away PKI made in the test: a CA, a server certificate it signs for
//! `localhost` and 127.0.0.1, and an unrelated CA that must not be trusted.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The files of the PKI, all PEM, in one directory.
#[derive(Debug)]
pub(crate) struct Pki {
    /// The CA that signed the server certificate.
    pub(crate) ca: PathBuf,
    /// A CA that signed nothing here: trusting it alone must fail verification.
    pub(crate) other_ca: PathBuf,
    /// The server certificate (subject alternative names `localhost` and 127.0.0.1).
    pub(crate) cert: PathBuf,
    /// The server certificate's private key (PKCS#8).
    pub(crate) key: PathBuf,
}

impl Pki {
    /// Generates the PKI and writes its files into `dir`.
    pub(crate) fn generate(dir: &Path) -> Result<Self, String> {
        let ca = certificate_authority("authstore test CA")?;
        let other_ca = certificate_authority("authstore unrelated CA")?;
        let server_key = KeyPair::generate().map_err(rcgen_error)?;
        let mut server =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(rcgen_error)?;
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &ca).map_err(rcgen_error)?;

        let pki = Self {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other-ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
        };
        write(&pki.ca, &ca.pem())?;
        write(&pki.other_ca, &other_ca.pem())?;
        write(&pki.cert, &server_cert.pem())?;
        write(&pki.key, &server_key.serialize_pem())?;
        // PostgreSQL refuses a key file others can read.
        fs::set_permissions(&pki.key, fs::Permissions::from_mode(0o600))
            .map_err(|err| format!("chmod {}: {err}", pki.key.display()))?;
        Ok(pki)
    }
}

/// A self-signed CA named `name`, allowed to sign server certificates.
fn certificate_authority(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, String> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().map_err(rcgen_error)?;
    CertifiedIssuer::self_signed(params, key).map_err(rcgen_error)
}

fn write(path: &Path, pem: &str) -> Result<(), String> {
    fs::write(path, pem).map_err(|err| format!("writing {}: {err}", path.display()))
}

fn rcgen_error(err: rcgen::Error) -> String {
    format!("generating the test PKI: {err}")
}
