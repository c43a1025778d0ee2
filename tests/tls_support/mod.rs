//! Certificates made at test time with rcgen (nothing secret is committed) and TLS configs.
#![allow(dead_code)]

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use shardnet::tls::*;
use std::path::PathBuf;

/// A CA that can issue server and client certificates.
pub struct Ca {
    pub cert: rcgen::Certificate,
    key: KeyPair,
    pub pem: String,
}

/// A leaf certificate (PEM) with its key (PEM).
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Leaf {
    pub fn identity(&self) -> Identity {
        Identity::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).unwrap();
        let pem = cert.pem();
        Ca { cert, key, pem }
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    pub fn server(&self, names: &[&str]) -> Leaf {
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    pub fn client(&self, name: &str) -> Leaf {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    pub fn client_config(&self) -> ClientTlsBuilder {
        ClientTlsConfig::builder().ca_pem(self.pem.as_bytes())
    }
}

/// A fresh directory under the system temp dir for PEM files handed to external tools, removed
/// when dropped.
pub fn temp_dir(tag: &str) -> crate::support::TempDir {
    crate::support::TempDir::new(&format!("tls-{tag}"))
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A plain rustls client configuration (ring provider) trusting only `ca`: for tests that drive
/// the TLS byte stream by hand (half-closes, bytes after close_notify).
pub fn rustls_client_config(ca: &Ca) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// A server configuration for `leaf` offering ALPN `http/1.1` (HTTPS tests).
pub fn https_config(leaf: &Leaf) -> ServerTlsConfig {
    ServerTlsConfig::builder()
        .identity(leaf.identity())
        .alpn(["http/1.1"])
        .build()
        .unwrap()
}

/// A plain server configuration for `leaf` (no ALPN).
pub fn server_config(leaf: &Leaf) -> ServerTlsConfig {
    ServerTlsConfig::builder()
        .identity(leaf.identity())
        .build()
        .unwrap()
}
