//! `passerelle sandbox personas`: who can log in to the sandbox, and what an Identification of
//! each returns — computed through the same claim mapping the connector applies, no server needed.

use passerelle_core::scopes::{Account, GrantedScopes, SCOPES};
use passerelle_itsme::claims::{filter_for_scopes, itsme_claims_for, map_to_rp_claims};
use passerelle_sandbox::{Persona, Personas};
use serde_json::{Map, Value, json};

/// What userinfo returns for a sandbox client asking every scope, minus `sub` (which is pairwise
/// and depends on the installation's keys). `idp_id` is itsme's subject for the persona.
pub fn attributes(persona: &Persona) -> Map<String, Value> {
    let all: Vec<&str> = SCOPES.iter().map(|s| s.name).collect();
    let scopes = match GrantedScopes::parse(&all.join(" "), Account::Sandbox, &[]) {
        Ok(s) => s,
        Err(_) => return Map::new(),
    };
    let names: Vec<String> = itsme_claims_for(&scopes)
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut out = filter_for_scopes(&map_to_rp_claims(&persona.claims_for(&names)), &scopes);
    out.insert(
        "idp_id".into(),
        json!(passerelle_sandbox::subject(
            crate::app::EMBEDDED_CLIENT_ID,
            &persona.phone_number
        )),
    );
    out
}

pub fn to_json(personas: &Personas) -> Value {
    Value::Array(
        personas
            .all()
            .iter()
            .map(|p| {
                json!({
                    "phone_number": p.phone_number,
                    "country": p.country(),
                    "behaviour": p.behaviour().as_str(),
                    "code": p.code,
                    "label": p.label,
                    "attributes": attributes(p),
                })
            })
            .collect(),
    )
}

pub fn to_table(personas: &Personas) -> String {
    let mut out = format!(
        "{:<16} {:<7} {:<9} {:<6} {}\n",
        "PHONE", "COUNTRY", "BEHAVIOUR", "CODE", "NAME / NOTE"
    );
    for p in personas.all() {
        let a = attributes(p);
        let name = a.get("name").and_then(Value::as_str).unwrap_or("");
        out.push_str(&format!(
            "{:<16} {:<7} {:<9} {:<6} {} — {}\n",
            p.phone_number,
            p.country(),
            p.behaviour().as_str(),
            p.code,
            name,
            p.label
        ));
    }
    out
}
