//! A build without the `tls` feature refuses what needs TLS when the runner
//! is built, with an error naming the feature, instead of retrying a connect
//! that can never work. CI runs it with the feature off:
//! `cargo test -p runner-core --features host --test without_tls`.
#![cfg(all(feature = "host", not(feature = "tls")))]

use runner_core::host::testing::NoEngine;
use runner_core::host::{BuildError, Builder, Handler};

struct Nothing;
impl Handler for Nothing {}

fn builder(endpoint: &str) -> Builder<NoEngine> {
    Builder::new(NoEngine).endpoint(endpoint).runner_name("r")
}

#[test]
fn https_and_wss_endpoints_are_refused_at_build_time() {
    for endpoint in ["https://rivet.example", "wss://rivet.example"] {
        let err = builder(endpoint).build(Nothing).unwrap_err();
        assert_eq!(err, BuildError::TlsNotCompiled(endpoint.into()));
        assert!(
            err.to_string().contains("enable the `tls` feature"),
            "{err}"
        );
    }
}

#[test]
fn tls_settings_are_refused_and_plain_http_is_built() {
    let with_ca = builder("http://127.0.0.1:6420").tls_root_certificates_pem("x");
    assert!(matches!(
        with_ca.build(Nothing),
        Err(BuildError::TlsNotCompiled(_))
    ));
    assert!(builder("http://127.0.0.1:6420").build(Nothing).is_ok());
}
