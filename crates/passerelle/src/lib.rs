//! The `passerelle` binary's library half: configuration, assembly of the application, and the
//! command-line tools. `main.rs` parses the command line and calls into here; the integration
//! tests build the same application on a port-0 listener.

pub mod app;
pub mod cli;
pub mod config;
