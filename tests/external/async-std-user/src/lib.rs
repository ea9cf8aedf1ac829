//! A user's crate with nothing but `runner-async-std` and `async-std`: its
//! doctests are runner-async-std's crate docs, word for word, so an
//! example that stops pasting into such a crate fails CI.

#[doc = include_str!("../../../../runner-async-std/README.md")]
mod driver_docs {}
