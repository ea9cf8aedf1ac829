//! Test support shared by the integration tests.

pub mod api;
pub mod engine;
pub mod fuzz_support;
pub mod load;
pub mod proxy;
pub mod recorded;
pub mod runner_process;

pub mod sim;
pub mod strategies;
pub mod test_runner_app;
pub mod tls_proxy;
pub mod ts_json;
