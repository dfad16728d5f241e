//! The administration commands: clients, sandbox personas, the audit trail.

pub mod audit;
pub mod clients;
pub mod personas;
pub mod sign;
