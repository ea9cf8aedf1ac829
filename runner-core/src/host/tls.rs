//! TLS for `wss://` endpoints: what the builder's `tls_*` settings collect,
//! and the rustls client configuration they become (feature `tls`).
//!
//! Trust is Mozilla's root program compiled in ([webpki-roots]) plus any
//! roots the user adds. Compiled-in roots behave the same on every machine,
//! including minimal containers that ship no CA bundle, and need no file read
//! at start-up; a private engine behind an internal CA is reached by adding
//! that CA ([`Builder::tls_root_certificates_pem`](super::Builder::tls_root_certificates_pem)),
//! and anything else (client certificates, another crypto provider, the
//! platform's verifier) by handing over a whole
//! [`rustls::ClientConfig`] ([`Builder::tls_client_config`](super::Builder::tls_client_config)).
//!
//! [webpki-roots]: https://docs.rs/webpki-roots

use std::fmt;

use thiserror::Error;

/// Why the TLS settings cannot be used.
///
/// # Examples
///
/// ```
/// use runner_tokio::{BuildError, Handler, TlsError};
///
/// struct Nothing;
/// impl Handler for Nothing {}
///
/// let builder = runner_tokio::builder().endpoint("https://rivet.example").runner_name("r");
/// let err = builder.tls_root_certificates_pem("not a certificate").build(Nothing).unwrap_err();
/// # #[cfg(feature = "tls")]
/// assert_eq!(err, BuildError::Tls(TlsError::NoCertificate));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM text given as certificates holds none.
    #[error("no certificate in the PEM text")]
    NoCertificate,
    /// A PEM text could not be read.
    #[error("unreadable PEM: {0}")]
    Pem(String),
    /// A certificate could not be used as a root of trust.
    #[error("certificate not usable as a root: {0}")]
    BadRoot(String),
    /// The endpoint's host is not a name TLS can verify a certificate for.
    #[error("host {0:?} is not a valid TLS server name")]
    ServerName(String),
    /// rustls refused the configuration.
    #[error("{0}")]
    Rustls(String),
}

/// The TLS client settings a driver uses for a `wss://` connection: a
/// rustls `ClientConfig` in a build with the `tls`
/// feature; a type with no value in a build without it.
///
/// The builder makes it; a driver's [`Runtime::connect`](super::Runtime::connect)
/// reads it from [`ConnectRequest::tls`](super::ConnectRequest::tls).
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tls")] {
/// use std::sync::Arc;
/// use runner_tokio::ClientTls;
///
/// let config = Arc::new(ClientTls::default_rustls_config()?);
/// let tls = ClientTls::from(config.clone());
/// assert!(Arc::ptr_eq(tls.rustls_config(), &config));
/// assert_eq!(format!("{tls:?}"), "ClientTls { .. }");
/// # }
/// # Ok::<(), runner_tokio::TlsError>(())
/// ```
#[derive(Clone)]
pub struct ClientTls {
    #[cfg(feature = "tls")]
    config: std::sync::Arc<rustls::ClientConfig>,
    #[cfg(not(feature = "tls"))]
    _never: std::convert::Infallible,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

/// What the builder collected: raw certificates, read and checked at
/// `build()` so that the builder's methods stay infallible and chainable.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// PEM texts of extra roots.
    pub(crate) roots_pem: Vec<Vec<u8>>,
    /// Leave out the compiled-in Mozilla roots.
    pub(crate) no_builtin_roots: bool,
    /// PEM texts of certificates accepted as they are (tests only).
    pub(crate) accept_pem: Vec<Vec<u8>>,
    /// A whole configuration from the user: everything above is unused.
    pub(crate) client: Option<ClientTls>,
}

impl TlsSettings {
    /// Whether the user asked for anything TLS-specific.
    pub(crate) fn is_set(&self) -> bool {
        !self.roots_pem.is_empty()
            || self.no_builtin_roots
            || !self.accept_pem.is_empty()
            || self.client.is_some()
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("extra_roots", &self.roots_pem.len())
            .field("builtin_roots", &!self.no_builtin_roots)
            .field("accepted_certificates", &self.accept_pem.len())
            .field("client", &self.client)
            .finish()
    }
}

/// Whether an endpoint (`http(s)://` or `ws(s)://`) is reached over TLS:
/// its WebSocket URL, as the core builds it, is `wss://`. An endpoint the
/// core refuses is not, and the core's validation says why.
pub(crate) fn is_tls_endpoint(endpoint: &str) -> bool {
    crate::url::websocket_base(endpoint).is_ok_and(|base| base.starts_with("wss://"))
}

/// The endpoint's host, without port, user info or IPv6 brackets.
#[cfg(feature = "tls")]
fn endpoint_host(endpoint: &str) -> &str {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

#[cfg(feature = "tls")]
mod rustls_config {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::WebPkiSupportedAlgorithms;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

    use super::{ClientTls, TlsError, TlsSettings, endpoint_host};

    impl From<Arc<ClientConfig>> for ClientTls {
        fn from(config: Arc<ClientConfig>) -> Self {
            ClientTls { config }
        }
    }

    impl ClientTls {
        /// The rustls configuration to connect with.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use runner_tokio::ClientTls;
        ///
        /// let tls = ClientTls::from(Arc::new(ClientTls::default_rustls_config()?));
        /// assert!(tls.rustls_config().alpn_protocols.is_empty());
        /// # Ok::<(), runner_tokio::TlsError>(())
        /// ```
        pub fn rustls_config(&self) -> &Arc<ClientConfig> {
            &self.config
        }

        /// What the drivers use when no TLS setting is given: the ring
        /// provider, TLS 1.2 and 1.3, Mozilla's roots, no client certificate.
        ///
        /// # Examples
        ///
        /// ```
        /// use runner_tokio::ClientTls;
        ///
        /// let config = ClientTls::default_rustls_config()?;
        /// assert!(!config.crypto_provider().cipher_suites.is_empty());
        /// # Ok::<(), runner_tokio::TlsError>(())
        /// ```
        pub fn default_rustls_config() -> Result<ClientConfig, TlsError> {
            build(&TlsSettings::default())
        }
    }

    /// Reads the settings into a rustls configuration, checking that the
    /// endpoint's host is a name a certificate can be verified for.
    pub(crate) fn client_tls(
        settings: &TlsSettings,
        endpoint: &str,
    ) -> Result<ClientTls, TlsError> {
        let host = endpoint_host(endpoint);
        ServerName::try_from(host).map_err(|_| TlsError::ServerName(host.to_owned()))?;
        if let Some(client) = &settings.client {
            return Ok(client.clone());
        }
        Ok(ClientTls::from(Arc::new(build(settings)?)))
    }

    fn build(settings: &TlsSettings) -> Result<ClientConfig, TlsError> {
        // ring builds with a C compiler alone (aws-lc-rs, rustls' default,
        // needs more of a toolchain and twice the build time). rustls marks
        // it deprecated because it has no post-quantum key exchange; users
        // who want one pass an aws-lc-rs configuration to
        // `Builder::tls_client_config`.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let accepted = certificates(&settings.accept_pem)?;
        let config = if accepted.is_empty() {
            builder
                .with_root_certificates(roots(settings)?)
                .with_no_client_auth()
        } else {
            let verifier = AcceptExactly {
                accepted,
                algorithms: provider.signature_verification_algorithms,
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        };
        Ok(config)
    }

    fn roots(settings: &TlsSettings) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        if !settings.no_builtin_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in certificates(&settings.roots_pem)? {
            roots
                .add(cert)
                .map_err(|e| TlsError::BadRoot(e.to_string()))?;
        }
        Ok(roots)
    }

    /// Every certificate of every PEM text; a text with none is an error
    /// (a wrong file is better refused than silently trusted for nothing).
    fn certificates(pems: &[Vec<u8>]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let mut out = Vec::new();
        for pem in pems {
            let before = out.len();
            for cert in CertificateDer::pem_slice_iter(pem) {
                out.push(cert.map_err(|e| TlsError::Pem(e.to_string()))?);
            }
            if out.len() == before {
                return Err(TlsError::NoCertificate);
            }
        }
        Ok(out)
    }

    /// Accepts exactly the given end-entity certificates, whatever their
    /// issuer or names; handshake signatures are still verified, so the
    /// server must hold the certificate's private key.
    #[derive(Debug)]
    struct AcceptExactly {
        accepted: Vec<CertificateDer<'static>>,
        algorithms: WebPkiSupportedAlgorithms,
    }

    impl ServerCertVerifier for AcceptExactly {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            if self
                .accepted
                .iter()
                .any(|c| c.as_ref() == end_entity.as_ref())
            {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer,
                ))
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    }
}

#[cfg(feature = "tls")]
pub(crate) use rustls_config::client_tls;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_endpoints_are_https_and_wss() {
        assert!(is_tls_endpoint("https://h"));
        assert!(is_tls_endpoint("WSS://h:1/x"));
        assert!(!is_tls_endpoint("http://h"));
        assert!(!is_tls_endpoint("ws://h"));
        assert!(!is_tls_endpoint("no scheme"));
    }

    #[test]
    #[cfg(feature = "tls")]
    fn the_host_is_found_in_every_form_of_endpoint() {
        assert_eq!(endpoint_host("https://rivet.example"), "rivet.example");
        assert_eq!(
            endpoint_host("https://rivet.example:443/api"),
            "rivet.example"
        );
        assert_eq!(
            endpoint_host("https://u:p@rivet.example:1/"),
            "rivet.example"
        );
        assert_eq!(endpoint_host("wss://[::1]:6420"), "::1");
        assert_eq!(endpoint_host("wss://127.0.0.1:6420"), "127.0.0.1");
    }
}
