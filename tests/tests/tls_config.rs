//! The TLS configuration the builder hands to a driver, checked against a
//! real TLS server on loopback (the test proxy; nothing listens behind it):
//! the CA a user adds is trusted, Mozilla's roots alone do not trust a
//! private CA, and the tests-only `danger_accept_self_signed` accepts
//! exactly the certificate it was given.

use std::sync::Arc;
use std::time::Duration;

use runner_core::host::testing::MemoryRuntime;
use runner_core::host::{Builder, ClientTls, Handler};
use rustls::pki_types::ServerName;
use tests::tls_proxy::TlsProxy;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

struct Nothing;
impl Handler for Nothing {}

/// The `ClientTls` a runner configured by `configure` connects with.
fn client_tls(
    proxy: &TlsProxy,
    configure: impl FnOnce(Builder<MemoryRuntime>) -> Builder<MemoryRuntime>,
) -> ClientTls {
    let rt = MemoryRuntime::new();
    let builder = Builder::new(rt.clone())
        .endpoint(proxy.endpoint())
        .runner_name("r");
    let runner = configure(builder).build(Nothing).expect("builds");
    let (request, _) = rt.connect_once(runner);
    assert!(
        request.url.starts_with("wss://localhost:"),
        "{}",
        request.url
    );
    request
        .tls
        .expect("a wss:// connect carries its TLS settings")
}

/// Whether a TLS handshake with the proxy succeeds under `tls`.
async fn handshake(proxy: &TlsProxy, tls: &ClientTls) -> Result<(), String> {
    let port = proxy
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let connector = TlsConnector::from(Arc::clone(tls.rustls_config()));
    let name = ServerName::try_from("localhost").unwrap();
    let connecting = connector.connect(name, tcp);
    match tokio::time::timeout(Duration::from_secs(10), connecting).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_added_ca_is_trusted_and_the_builtin_roots_alone_are_not() {
    let rt = runtime();
    let proxy = rt
        .block_on(TlsProxy::start("127.0.0.1:9".parse().unwrap()))
        .unwrap();
    let trusting = client_tls(&proxy, |b| b.tls_root_certificates_pem(proxy.ca_pem()));
    rt.block_on(handshake(&proxy, &trusting))
        .expect("the CA is trusted");
    let builtin = client_tls(&proxy, |b| b);
    let refused = rt.block_on(handshake(&proxy, &builtin)).unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    assert_eq!(proxy.handshakes(), 1);
}

#[test]
fn danger_accept_self_signed_accepts_exactly_that_certificate() {
    let rt = runtime();
    let proxy = rt
        .block_on(TlsProxy::start("127.0.0.1:9".parse().unwrap()))
        .unwrap();
    let pinned = client_tls(&proxy, |b| b.danger_accept_self_signed(proxy.server_pem()));
    rt.block_on(handshake(&proxy, &pinned))
        .expect("the pinned certificate is accepted");
    // Another certificate (here the CA's) is not the one presented: refused,
    // even though it issued the one presented.
    let other = client_tls(&proxy, |b| b.danger_accept_self_signed(proxy.ca_pem()));
    let refused = rt.block_on(handshake(&proxy, &other)).unwrap_err();
    assert!(refused.contains("invalid peer certificate"), "{refused}");
    assert_eq!(proxy.handshakes(), 1);
}
