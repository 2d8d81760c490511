//! TLS: certificate files given by the operator, or a self-signed certificate for local
//! use. Node-based Auth0 clients speak only https, and trust this certificate through
//! `NODE_EXTRA_CA_CERTS`; they require `IP:127.0.0.1` in its subjectAltName.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

/// Returns `(cert, key)` paths under `<data-dir>/tls/`, generating them on first use. An
/// existing pair is reused, so a client that trusts it keeps trusting it across restarts.
pub fn ensure_self_signed(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .context("building certificate parameters")?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Hookhaven local certificate");
    // Marked as a CA, like `openssl req -x509` does, so that OpenSSL-based clients
    // (Node, Python) accept it as their own trust anchor.
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let key = KeyPair::generate().context("generating the TLS key")?;
    let cert = params.self_signed(&key).context("signing the certificate")?;
    crate::bootstrap::write_private_file(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem()).with_context(|| format!("writing {}", cert_path.display()))?;
    Ok((cert_path, key_path))
}
