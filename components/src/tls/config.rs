//! TLS settings for servers ([`ServerTlsConfig`]) and for agents and clients
//! ([`ClientTlsConfig`]), built into rustls configurations with the `ring` provider.

use crate::{Error, Result};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Default TLS handshake timeout (HP-Socket has none).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3, plus 1.2 when `tls12` (both sides offer the same choice).
fn versions(tls12: bool) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    if tls12 {
        rustls::ALL_VERSIONS
    } else {
        &TLS13_ONLY
    }
}

/// ALPN protocol names as rustls stores them.
fn alpn_list<I, P>(protocols: I) -> Vec<Vec<u8>>
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    protocols.into_iter().map(|p| p.as_ref().to_vec()).collect()
}

fn tls_err(what: &str, e: impl fmt::Display) -> Error {
    Error::InvalidParam(format!("{what}: {e}"))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| tls_err(&format!("reading {}", path.display()), e))
}

/// Parses every certificate in `pem`.
fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_err("certificate PEM", e))?;
    if certs.is_empty() {
        return Err(Error::InvalidParam("no certificate in PEM".into()));
    }
    Ok(certs)
}

fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| tls_err("private key PEM", e))
}

fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>> {
    let chain = certs_from_pem(chain_pem)?;
    let key = key_from_pem(key_pem)?;
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| tls_err("key", e))?;
    let ck = CertifiedKey::new(chain, signer);
    ck.keys_match()
        .map_err(|e| tls_err("certificate and key", e))?;
    Ok(Arc::new(ck))
}

/// Trust roots from PEM certificates in memory (for [`ClientAuth::Optional`] /
/// [`ClientAuth::Required`] built by hand).
pub fn roots_from_pem(pem: &[u8]) -> Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for c in certs_from_pem(pem)? {
        roots.add(c).map_err(|e| tls_err("CA certificate", e))?;
    }
    Ok(Arc::new(roots))
}

/// A certificate chain with its private key.
#[derive(Clone)]
pub struct Identity(Arc<CertifiedKey>);

impl Identity {
    /// From PEM in memory: the chain (leaf first) and the key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Identity> {
        certified_key(chain_pem, key_pem).map(Identity)
    }
    /// From PEM files.
    pub fn from_pem_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Identity> {
        Self::from_pem(&read_file(chain.as_ref())?, &read_file(key.as_ref())?)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({} certificate(s))", self.0.cert.len())
    }
}

/// What an SNI callback decides for a server name.
pub enum SniChoice {
    /// Use this certificate.
    Use(Identity),
    /// Fall back to the configured names (exact, then wildcard, then the default certificate).
    Default,
    /// Abort the handshake.
    Abort,
}

/// Whether a server asks clients for certificates.
#[derive(Clone, Default)]
pub enum ClientAuth {
    /// No client certificates (default).
    #[default]
    None,
    /// Verified against the CA when offered; connections without one are accepted.
    Optional(Arc<RootCertStore>),
    /// Required and verified against the CA (mutual TLS).
    Required(Arc<RootCertStore>),
}

type SniCallback = dyn Fn(Option<&str>) -> SniChoice + Send + Sync;

/// Picks the server certificate: the callback, then exact names, then wildcard parents, then
/// the default.
struct SniResolver {
    default: Option<Arc<CertifiedKey>>,
    names: Vec<(String, Arc<CertifiedKey>)>,
    callback: Option<Arc<SniCallback>>,
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field(
                "names",
                &self.names.iter().map(|n| &n.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SniResolver {
    /// `name` comes lowercased from rustls (and entries were lowercased when added).
    fn lookup(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        if let Some((_, k)) = self.names.iter().find(|(n, _)| n == name) {
            return Some(k.clone());
        }
        // "a.b.example.com" matches "*.b.example.com" (one label only, as certificates do).
        let (_, parent) = name.split_once('.')?;
        self.names
            .iter()
            .find(|(n, _)| n.strip_prefix("*.") == Some(parent))
            .map(|(_, k)| k.clone())
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name();
        if let Some(cb) = &self.callback {
            match cb(name) {
                SniChoice::Use(id) => return Some(id.0),
                SniChoice::Abort => return None,
                SniChoice::Default => {}
            }
        }
        name.and_then(|n| self.lookup(n))
            .or_else(|| self.default.clone())
    }
}

/// Server-side TLS (the `Ssl*Server` components): certificates, SNI, client authentication,
/// ALPN, session resumption and the handshake timeout.
#[derive(Clone)]
pub struct ServerTlsConfig {
    pub(crate) rustls: Arc<rustls::ServerConfig>,
    /// Handshakes not finished after this long are closed with `on_close(Close, ETIMEDOUT)`.
    pub handshake_timeout: Duration,
}

impl fmt::Debug for ServerTlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTlsConfig")
            .field("alpn", &self.rustls.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

impl ServerTlsConfig {
    /// A builder.
    pub fn builder() -> ServerTlsBuilder {
        ServerTlsBuilder {
            default: None,
            names: Vec::new(),
            callback: None,
            client_auth: ClientAuth::None,
            alpn: Vec::new(),
            resumption: true,
            tls12: true,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// One certificate for every name, from PEM files.
    pub fn from_pem_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self> {
        Self::builder()
            .identity(Identity::from_pem_files(chain, key)?)
            .build()
    }
}

/// Builds a [`ServerTlsConfig`].
pub struct ServerTlsBuilder {
    default: Option<Identity>,
    names: Vec<(String, Identity)>,
    callback: Option<Arc<SniCallback>>,
    client_auth: ClientAuth,
    alpn: Vec<Vec<u8>>,
    resumption: bool,
    tls12: bool,
    handshake_timeout: Duration,
}

impl ServerTlsBuilder {
    /// The default certificate (used when no SNI entry matches).
    pub fn identity(mut self, id: Identity) -> Self {
        self.default = Some(id);
        self
    }
    /// A certificate for one server name; `*.example.com` matches one label under it. Exact
    /// names win over wildcards.
    pub fn sni(mut self, name: &str, id: Identity) -> Self {
        self.names.push((name.to_ascii_lowercase(), id));
        self
    }
    /// A callback asked first for every handshake with the client's server name.
    pub fn sni_callback(
        mut self,
        f: impl Fn(Option<&str>) -> SniChoice + Send + Sync + 'static,
    ) -> Self {
        self.callback = Some(Arc::new(f));
        self
    }
    /// Client certificate mode.
    pub fn client_auth(mut self, mode: ClientAuth) -> Self {
        self.client_auth = mode;
        self
    }
    /// Requires client certificates issued by the CA(s) in this PEM file (mutual TLS).
    pub fn require_client_cert(self, ca_pem_file: impl AsRef<Path>) -> Result<Self> {
        let roots = roots_from_pem(&read_file(ca_pem_file.as_ref())?)?;
        Ok(self.client_auth(ClientAuth::Required(roots)))
    }
    /// Verifies client certificates against this CA when offered.
    pub fn optional_client_cert(self, ca_pem_file: impl AsRef<Path>) -> Result<Self> {
        let roots = roots_from_pem(&read_file(ca_pem_file.as_ref())?)?;
        Ok(self.client_auth(ClientAuth::Optional(roots)))
    }
    /// ALPN protocols in preference order (e.g. `["h2", "http/1.1"]`).
    pub fn alpn<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = alpn_list(protocols);
        self
    }
    /// Session resumption by tickets and a server-side cache (default on).
    pub fn session_resumption(mut self, on: bool) -> Self {
        self.resumption = on;
        self
    }
    /// Accept TLS 1.2 as well as 1.3 (default true).
    pub fn tls12(mut self, on: bool) -> Self {
        self.tls12 = on;
        self
    }
    /// Handshake timeout (default 10 s); a component's own `handshake_timeout` overrides it.
    pub fn handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// Checks the settings and builds the rustls configuration.
    pub fn build(self) -> Result<ServerTlsConfig> {
        if self.default.is_none() && self.names.is_empty() && self.callback.is_none() {
            return Err(Error::InvalidParam(
                "a TLS server needs a certificate (identity, sni or sni_callback)".into(),
            ));
        }
        let b = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(self.tls12))
            .map_err(|e| tls_err("protocol versions", e))?;
        let b = match &self.client_auth {
            ClientAuth::None => b.with_no_client_auth(),
            ClientAuth::Optional(roots) | ClientAuth::Required(roots) => {
                let vb = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider());
                let vb = if matches!(self.client_auth, ClientAuth::Optional(_)) {
                    vb.allow_unauthenticated()
                } else {
                    vb
                };
                b.with_client_cert_verifier(vb.build().map_err(|e| tls_err("client CA", e))?)
            }
        };
        let resolver = SniResolver {
            default: self.default.map(|i| i.0),
            names: self.names.into_iter().map(|(n, i)| (n, i.0)).collect(),
            callback: self.callback,
        };
        let mut cfg = b.with_cert_resolver(Arc::new(resolver));
        cfg.alpn_protocols = self.alpn;
        if self.resumption {
            cfg.ticketer =
                rustls::crypto::ring::Ticketer::new().map_err(|e| tls_err("ticketer", e))?;
        } else {
            cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            cfg.send_tls13_tickets = 0;
        }
        Ok(ServerTlsConfig {
            rustls: Arc::new(cfg),
            handshake_timeout: self.handshake_timeout,
        })
    }
}

/// Agent/Client-side TLS: trust roots, client certificate, ALPN, resumption on reconnect.
#[derive(Clone)]
pub struct ClientTlsConfig {
    pub(crate) rustls: Arc<rustls::ClientConfig>,
    /// Handshakes not finished after this long are closed with `on_close(Close, ETIMEDOUT)`.
    pub handshake_timeout: Duration,
}

impl fmt::Debug for ClientTlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTlsConfig")
            .field("alpn", &self.rustls.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

/// Where a client's trusted roots come from.
enum Roots {
    System,
    Pem(Vec<u8>),
    /// Testing only: the certificate is not verified (handshake signatures still are).
    Insecure,
}

/// Builds a [`ClientTlsConfig`].
pub struct ClientTlsBuilder {
    roots: Roots,
    identity: Option<Identity>,
    alpn: Vec<Vec<u8>>,
    tls12: bool,
    handshake_timeout: Duration,
}

impl ClientTlsConfig {
    /// A builder that trusts the system's root store.
    pub fn builder() -> ClientTlsBuilder {
        ClientTlsBuilder {
            roots: Roots::System,
            identity: None,
            alpn: Vec::new(),
            tls12: true,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

impl ClientTlsBuilder {
    /// Trusts only the CA(s) in this PEM file.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self> {
        Ok(self.ca_pem(&read_file(path.as_ref())?))
    }
    /// Trusts only the CA(s) in this PEM.
    pub fn ca_pem(mut self, pem: &[u8]) -> Self {
        self.roots = Roots::Pem(pem.to_vec());
        self
    }
    /// Trusts the operating system's root store (default).
    pub fn system_roots(mut self) -> Self {
        self.roots = Roots::System;
        self
    }
    /// **Testing only**: accept any server certificate without verification.
    pub fn dangerous_insecure_no_verify(mut self) -> Self {
        self.roots = Roots::Insecure;
        self
    }
    /// A client certificate for servers that ask for one.
    pub fn identity(mut self, id: Identity) -> Self {
        self.identity = Some(id);
        self
    }
    /// ALPN protocols to offer.
    pub fn alpn<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        self.alpn = alpn_list(protocols);
        self
    }
    /// Offer TLS 1.2 as well as 1.3 (default true).
    pub fn tls12(mut self, on: bool) -> Self {
        self.tls12 = on;
        self
    }
    /// Handshake timeout (default 10 s); a component's own `handshake_timeout` overrides it.
    pub fn handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// Builds the rustls configuration (its session cache makes reconnects resume).
    pub fn build(self) -> Result<ClientTlsConfig> {
        let b = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(self.tls12))
            .map_err(|e| tls_err("protocol versions", e))?;
        let b = match self.roots {
            Roots::Insecure => b
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider()))),
            Roots::Pem(pem) => b.with_root_certificates(roots_from_pem(&pem)?),
            Roots::System => {
                let loaded = rustls_native_certs::load_native_certs();
                let mut roots = RootCertStore::empty();
                let (added, _) = roots.add_parsable_certificates(loaded.certs);
                if added == 0 {
                    return Err(Error::InvalidParam(format!(
                        "no usable system root certificate ({} errors)",
                        loaded.errors.len()
                    )));
                }
                b.with_root_certificates(roots)
            }
        };
        let mut cfg = match self.identity {
            Some(id) => b.with_client_cert_resolver(Arc::new(ClientCert(id.0))),
            None => b.with_no_client_auth(),
        };
        cfg.alpn_protocols = self.alpn;
        Ok(ClientTlsConfig {
            rustls: Arc::new(cfg),
            handshake_timeout: self.handshake_timeout,
        })
    }
}

/// Presents one certificate to every server that asks.
struct ClientCert(Arc<CertifiedKey>);

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientCert({} certificate(s))", self.0.cert.len())
    }
}

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// The "don't verify" verifier behind [`ClientTlsBuilder::dangerous_insecure_no_verify`]: it
/// still checks handshake signatures, so the peer must hold the key of what it presents.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
