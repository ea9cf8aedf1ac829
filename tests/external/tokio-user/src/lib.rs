//! A user's crate with nothing but `runner-tokio` and `tokio`: its doctests
//! are the workspace README and runner-tokio's crate docs, word for word,
//! so an example that stops pasting into such a crate fails CI.

#[doc = include_str!("../../../../README.md")]
mod readme {}

#[doc = include_str!("../../../../runner-tokio/README.md")]
mod driver_docs {}

/// Every example of runner-core's host items that runner-tokio's rustdoc
/// shows, and of runner-tokio's own items, extracted by
/// `scripts/doc_examples.py` (see `../extract_examples.rs`).
#[doc = include_str!(concat!(env!("OUT_DIR"), "/driver_examples.md"))]
mod rustdoc_examples {}
