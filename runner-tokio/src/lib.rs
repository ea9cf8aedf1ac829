#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod runtime;
#[cfg(feature = "serverless")]
pub mod serverless;

pub use runtime::Tokio;
runner_core::driver_api!(
    Tokio,
    "tokio",
    "tokio::runtime::Runtime::new().unwrap().block_on"
);
