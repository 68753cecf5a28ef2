//! Authentication: SigV4 verification (and signing, for this crate's client), the
//! access keys it checks against, and the dates it reads.
#![forbid(unsafe_code)]

pub mod keys;
pub mod sigv4;
pub mod time;

pub use sigv4::{Identity, RequestParts, Verifier};
