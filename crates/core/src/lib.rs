//! Passerelle's domain — no IO.
//!
//! The attribute catalogue (which RP-facing scope carries which claims, which are protected),
//! the choice of itsme service, the Belgian national-number rules, the validation of an OpenID
//! Connect authorization request, the state machine of an action in the sandbox's itsme app, and the state machine of a login
//! at the broker, the words of the Authentication REST API, and the limits of itsme's signing
//! service (CSC).
//! Nothing here touches the network, the disk, the database, the clock or the random generator:
//! `now` and random values are passed in, so every rule is testable on its own.

pub mod ciba;
pub mod claims;
pub mod csc;
pub mod flow;
pub mod formats;
pub mod login;
pub mod nin;
pub mod oidc;
pub mod rest;
pub mod scopes;
pub mod signing;
