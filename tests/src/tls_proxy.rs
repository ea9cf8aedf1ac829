//! A TLS-terminating proxy on loopback, with a certificate authority made
//! at start: what an engine behind HTTPS looks like to a runner. Clients
//! speak TLS to the proxy (certificate for `localhost` and `127.0.0.1`,
//! issued by the proxy's own CA); the proxy speaks plain TCP to the engine.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tests::tls_proxy::TlsProxy;
//!
//! let proxy = TlsProxy::start("127.0.0.1:6420".parse()?).await?;
//! std::fs::write("/tmp/ca.pem", proxy.ca_pem())?;
//! // point the runner at proxy.endpoint() (https://localhost:PORT), trusting /tmp/ca.pem
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Counts of what the proxy saw.
#[derive(Debug, Default)]
struct Counts {
    handshakes: AtomicU64,
    refused: AtomicU64,
}

/// A TLS-terminating proxy; dropping it stops accepting.
#[derive(Debug)]
pub struct TlsProxy {
    addr: SocketAddr,
    ca_pem: String,
    server_pem: String,
    counts: Arc<Counts>,
    accept: JoinHandle<()>,
}

impl TlsProxy {
    /// Makes a CA and a server certificate, listens on a free loopback port
    /// and forwards every TLS connection's plaintext to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<TlsProxy> {
        let (ca_pem, server_pem, server) = certificates()?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("TLS proxy bind")?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let accept = tokio::spawn(accept_loop(listener, acceptor, upstream, counts.clone()));
        Ok(TlsProxy {
            addr,
            ca_pem,
            server_pem,
            counts,
            accept,
        })
    }

    /// `https://localhost:PORT`: the name the certificate is issued for.
    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The CA's certificate, PEM: what a runner must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The proxy's own certificate, PEM (what it presents).
    pub fn server_pem(&self) -> &str {
        &self.server_pem
    }

    /// TLS handshakes completed.
    pub fn handshakes(&self) -> u64 {
        self.counts.handshakes.load(Ordering::SeqCst)
    }

    /// TLS handshakes that failed (e.g. the client refused the certificate).
    pub fn refused(&self) -> u64 {
        self.counts.refused.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A fresh CA (PEM), a server certificate for `localhost` and `127.0.0.1`
/// that CA issued (PEM), and a server configuration presenting it.
fn certificates() -> Result<(String, String, rustls::ServerConfig)> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "runner tests CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let server_cert = params.signed_by(&server_key, &issuer)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let chain = vec![CertificateDer::from(server_cert.der().to_vec())];

    // The runner's provider (see runner-core's host/tls.rs for why ring).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok((ca_cert.pem(), server_cert.pem(), config))
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    upstream: SocketAddr,
    counts: Arc<Counts>,
) {
    while let Ok((client, _)) = listener.accept().await {
        tokio::spawn(connection(
            client,
            acceptor.clone(),
            upstream,
            counts.clone(),
        ));
    }
}

/// One connection: the TLS handshake (bounded), then bytes both ways until
/// either side closes.
async fn connection(
    client: TcpStream,
    acceptor: TlsAcceptor,
    upstream: SocketAddr,
    counts: Arc<Counts>,
) {
    let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(client)).await;
    let Ok(Ok(mut tls)) = handshake else {
        counts.refused.fetch_add(1, Ordering::SeqCst);
        return;
    };
    counts.handshakes.fetch_add(1, Ordering::SeqCst);
    let Ok(Ok(mut server)) =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(upstream)).await
    else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
}
