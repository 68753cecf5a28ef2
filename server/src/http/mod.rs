//! HTTP: the listener and its limits (`server`), one request from headers to answer
//! (`handler`), response bodies (`body`), and the server's counters (`metrics`).
#![forbid(unsafe_code)]

pub mod body;
pub mod handler;
pub mod metrics;
pub mod server;

pub use server::{RunningServer, ServerConfig, StartError};
