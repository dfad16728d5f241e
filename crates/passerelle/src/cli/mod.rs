//! The administration commands: clients and sandbox personas.

pub mod clients;
pub mod personas;
