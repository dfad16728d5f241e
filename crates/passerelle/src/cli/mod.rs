//! The administration commands: clients, keys, registration tokens, sandbox personas, the
//! audit trail.

pub mod audit;
pub mod clients;
pub mod keys;
pub mod personas;
pub mod registration;
pub mod sign;
