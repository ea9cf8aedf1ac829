//! A user's crate with nothing but `runner-async-std` and `async-std`: its
//! doctests are runner-async-std's crate docs, word for word, so an
//! example that stops pasting into such a crate fails CI.

#[doc = include_str!("../../../../runner-async-std/README.md")]
mod driver_docs {}

/// Every example of runner-core's host items and of runner-async-std's own
/// items written for runner-async-std, extracted by
/// `scripts/doc_examples.py` (see `../extract_examples.rs`).
#[doc = include_str!(concat!(env!("OUT_DIR"), "/driver_examples.md"))]
mod rustdoc_examples {}
