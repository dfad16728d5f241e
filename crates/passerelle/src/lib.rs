//! The `passerelle` binary's library half: configuration, assembly of the application, and the
//! command-line tools. `main.rs` parses the command line and calls into here; the integration
//! tests build the same application on a port-0 listener.

/// `println!` that ignores a closed stdout (e.g. `passerelle sandbox personas | head`).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod app;
pub mod cli;
pub mod config;
pub mod ops;
pub mod sandbox_server;
