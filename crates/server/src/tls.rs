//! TLS: certificate files given by the operator, or a self-signed certificate for local
//! use. Node-based Auth0 clients speak only https, and trust this certificate through
//! `NODE_EXTRA_CA_CERTS`; they require `IP:127.0.0.1` in its subjectAltName.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

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

    // A small local CA signs the server certificate. Both go into cert.pem: the server
    // sends the chain, and a client given cert.pem as its trust file (NODE_EXTRA_CA_CERTS,
    // REQUESTS_CA_BUNDLE, SSL_CERT_FILE) finds the CA in it. A lone self-signed
    // certificate would have to be both CA and server, which rustls-based clients refuse.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Hookhaven local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let ca = ca_params
        .self_signed(&ca_key)
        .context("signing the CA certificate")?;

    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .context("building certificate parameters")?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Hookhaven local server");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let key = KeyPair::generate().context("generating the TLS key")?;
    let cert = params
        .signed_by(&key, &ca, &ca_key)
        .context("signing the server certificate")?;
    // The CA key is not kept: nothing else is ever signed with it.
    crate::bootstrap::write_private_file(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, format!("{}{}", cert.pem(), ca.pem()))
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok((cert_path, key_path))
}
