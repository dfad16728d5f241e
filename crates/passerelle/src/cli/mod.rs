//! The administration commands: clients, keys, sandbox personas, the audit trail.

pub mod audit;
pub mod clients;
pub mod keys;
pub mod personas;
pub mod sign;
