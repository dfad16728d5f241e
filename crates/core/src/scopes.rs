//! The RP-facing attribute catalogue: scope → claims → protected or not, and the choice of itsme
//! service that a set of scopes makes.
//!
//! Scope names follow Signicat's eID Hub where it has one (`openid`, `profile`, `name`, `email`,
//! `phone`, `address`, `nin`, `nationality`, `date-of-birth`, `gender`, `idp-id`, `itsme-eid`);
//! every protected attribute has a scope of its own, so an operator grants exactly one thing per
//! `--grant`. Unknown scopes are ignored, as OIDC Core §5.4 says they should be.

use std::collections::BTreeSet;

/// The itsme service a request is served with (DESIGN.md "The three itsme services").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// A stable subject and the few login claims.
    Authentication,
    /// Verified attributes, for onboarding.
    Identification,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Authentication => "authentication",
            Service::Identification => "identification",
        }
    }

    pub fn parse(s: &str) -> Option<Service> {
        match s {
            "authentication" => Some(Service::Authentication),
            "identification" => Some(Service::Identification),
            _ => None,
        }
    }
}

/// One row of the catalogue.
#[derive(Debug, PartialEq, Eq)]
pub struct ScopeDef {
    pub name: &'static str,
    /// RP-facing claim names this scope releases.
    pub claims: &'static [&'static str],
    /// Needs a per-client grant from the operator (production accounts only).
    pub protected: bool,
    /// Part of itsme Authentication: a request made only of such scopes is an Authentication.
    pub login: bool,
    /// Released in the ID token as well as at userinfo (Signicat's `StandardScopes` default).
    pub in_id_token: bool,
    /// A short English description, for the README and the CLI.
    pub description: &'static str,
}

/// Every scope Passerelle understands, in the order discovery lists them.
pub const SCOPES: &[ScopeDef] = &[
    ScopeDef {
        name: "openid",
        claims: &["sub"],
        protected: false,
        login: true,
        in_id_token: true,
        description: "the pairwise subject; required",
    },
    ScopeDef {
        name: "name",
        claims: &["name", "given_name", "family_name"],
        protected: false,
        login: true,
        in_id_token: true,
        description: "first names and family name",
    },
    ScopeDef {
        name: "email",
        claims: &["email", "email_verified"],
        protected: false,
        login: true,
        in_id_token: true,
        description: "email address (not verified by itsme)",
    },
    ScopeDef {
        name: "idp-id",
        claims: &["idp_id"],
        // The same towards every client, so it would let clients correlate a person.
        protected: true,
        login: true,
        in_id_token: false,
        description: "the subject itsme gave Passerelle (the same for every client, hence protected)",
    },
    ScopeDef {
        name: "profile",
        claims: &[
            "name",
            "given_name",
            "family_name",
            "gender",
            "birthdate",
            "locale",
        ],
        protected: false,
        login: false,
        in_id_token: true,
        description: "names, sex, date of birth, app language",
    },
    ScopeDef {
        name: "date-of-birth",
        claims: &["birthdate"],
        protected: false,
        login: false,
        in_id_token: true,
        description: "date of birth",
    },
    ScopeDef {
        name: "gender",
        claims: &["gender"],
        protected: false,
        login: false,
        in_id_token: true,
        description: "sex",
    },
    ScopeDef {
        name: "phone",
        claims: &["phone_number", "phone_number_verified"],
        protected: false,
        login: false,
        in_id_token: true,
        description: "mobile phone number (E.164, verified)",
    },
    ScopeDef {
        name: "address",
        claims: &["address"],
        protected: false,
        login: false,
        in_id_token: true,
        description: "legal address: street, postal code, city, country (Belgian documents)",
    },
    ScopeDef {
        name: "nin",
        claims: &["nin", "nin_type", "nin_issuing_country"],
        protected: true,
        login: false,
        in_id_token: false,
        description: "Belgian national register number (Belgian documents only)",
    },
    ScopeDef {
        name: "nationality",
        claims: &["nationality"],
        protected: true,
        login: false,
        in_id_token: false,
        description: "nationality",
    },
    ScopeDef {
        name: "place-of-birth",
        claims: &["place_of_birth", "country_of_birth"],
        protected: true,
        login: false,
        in_id_token: false,
        description: "place and country of birth (Belgian documents)",
    },
    ScopeDef {
        name: "itsme-eid",
        claims: &[
            "itsme_document_number",
            "itsme_document_type",
            "itsme_issuing_country",
            "itsme_read_date",
        ],
        protected: true,
        login: false,
        in_id_token: false,
        description: "identity document (eID card) number, type, issuing country, last chip read",
    },
    ScopeDef {
        name: "itsme-validity",
        claims: &["itsme_validity_from", "itsme_validity_to"],
        protected: true,
        login: false,
        in_id_token: false,
        description: "document validity (from: Belgian documents only)",
    },
    ScopeDef {
        name: "itsme-issuance-locality",
        claims: &["itsme_issuance_locality"],
        protected: true,
        login: false,
        in_id_token: false,
        description: "where the document was issued (Belgian documents)",
    },
    ScopeDef {
        name: OFFLINE_ACCESS,
        claims: &[],
        protected: false,
        login: true,
        in_id_token: false,
        description: "a refresh token (OIDC Core §11), for clients the operator granted refresh_token; ignored otherwise",
    },
];

/// The scope that asks for a refresh token (OIDC Core §11). It releases no claim and changes no
/// service; whether a refresh token is issued is the client's grant `refresh_token`.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Looks a scope up by name.
pub fn find_scope(name: &str) -> Option<&'static ScopeDef> {
    SCOPES.iter().find(|s| s.name == name)
}

/// The names of the protected scopes, i.e. what `--grant` accepts.
pub fn protected_scope_names() -> impl Iterator<Item = &'static str> {
    SCOPES.iter().filter(|s| s.protected).map(|s| s.name)
}

/// Whether a client may receive every attribute (sandbox) or only what it was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    Sandbox,
    Production,
}

impl Account {
    pub fn as_str(self) -> &'static str {
        match self {
            Account::Sandbox => "sandbox",
            Account::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Option<Account> {
        match s {
            "sandbox" => Some(Account::Sandbox),
            "production" => Some(Account::Production),
            _ => None,
        }
    }
}

/// Why a scope request cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("the scope must contain openid")]
    MissingOpenid,
    #[error(
        "the client is not granted the protected scope '{0}'; ask the operator for `passerelle client update --grant {0}`"
    )]
    NotGranted(&'static str),
}

/// The scopes a request will be served with, after validation: known, allowed for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedScopes {
    scopes: Vec<&'static ScopeDef>,
}

impl GrantedScopes {
    /// Validates a space-separated `scope` parameter against the client's account and grants.
    /// Unknown scope values are ignored (OIDC Core §5.4).
    pub fn parse(
        scope: &str,
        account: Account,
        grants: &[String],
    ) -> Result<GrantedScopes, ScopeError> {
        let mut seen = BTreeSet::new();
        let mut scopes = Vec::new();
        for name in scope.split(' ').filter(|s| !s.is_empty()) {
            let Some(def) = find_scope(name) else {
                continue;
            };
            if !seen.insert(def.name) {
                continue;
            }
            if def.protected
                && account == Account::Production
                && !grants.iter().any(|g| g == def.name)
            {
                return Err(ScopeError::NotGranted(def.name));
            }
            scopes.push(def);
        }
        if !seen.contains("openid") {
            return Err(ScopeError::MissingOpenid);
        }
        // Keep catalogue order so that the stored and echoed scope string is canonical.
        scopes.sort_by_key(|d| SCOPES.iter().position(|s| s.name == d.name));
        Ok(GrantedScopes { scopes })
    }

    /// Restores scopes that were validated before (stored with a transaction).
    pub fn from_stored(scope: &str) -> GrantedScopes {
        let scopes = scope.split(' ').filter_map(find_scope).collect();
        GrantedScopes { scopes }
    }

    /// These scopes and `extra` (those a `claims` request implies, `claims::ClaimsRequest`):
    /// what the scheme is asked for. `extra` was checked against the client's grants.
    pub fn widened(&self, extra: &[&'static ScopeDef]) -> GrantedScopes {
        let mut scopes = self.scopes.clone();
        for def in extra {
            if !scopes.iter().any(|s| s.name == def.name) {
                scopes.push(def);
            }
        }
        scopes.sort_by_key(|d| SCOPES.iter().position(|s| s.name == d.name));
        GrantedScopes { scopes }
    }

    /// Authentication exactly when every scope is a login scope.
    pub fn service(&self) -> Service {
        if self.scopes.iter().all(|s| s.login) {
            Service::Authentication
        } else {
            Service::Identification
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.name == name)
    }

    /// The space-separated scope string, in catalogue order.
    pub fn to_scope_string(&self) -> String {
        self.scopes
            .iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// These scopes without `name` (`offline_access` for a client that gets no refresh token).
    pub fn without(&self, name: &str) -> GrantedScopes {
        GrantedScopes {
            scopes: self
                .scopes
                .iter()
                .copied()
                .filter(|s| s.name != name)
                .collect(),
        }
    }

    /// Every RP-facing claim these scopes release (userinfo).
    pub fn claims(&self) -> BTreeSet<&'static str> {
        self.scopes
            .iter()
            .flat_map(|s| s.claims.iter().copied())
            .collect()
    }

    /// The claims that also go into the ID token.
    pub fn id_token_claims(&self) -> BTreeSet<&'static str> {
        self.scopes
            .iter()
            .filter(|s| s.in_id_token)
            .flat_map(|s| s.claims.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_access_is_kept_releases_nothing_and_changes_no_service() {
        let s = GrantedScopes::parse("openid offline_access name", Account::Production, &[])
            .expect("offline_access needs no grant to be asked for");
        assert_eq!(s.to_scope_string(), "openid name offline_access");
        assert_eq!(s.service(), Service::Authentication);
        assert!(s.contains(OFFLINE_ACCESS));
        assert_eq!(
            s.claims(),
            GrantedScopes::parse("openid name", Account::Production, &[])
                .expect("valid")
                .claims()
        );
        let without = s.without(OFFLINE_ACCESS);
        assert_eq!(without.to_scope_string(), "openid name");
    }

    #[test]
    fn login_scopes_make_an_authentication() {
        let s = GrantedScopes::parse(
            "openid email name idp-id",
            Account::Production,
            &["idp-id".into()],
        )
        .expect("ok");
        assert_eq!(s.service(), Service::Authentication);
        let s = GrantedScopes::parse("openid", Account::Production, &[]).expect("ok");
        assert_eq!(s.service(), Service::Authentication);
        let s = GrantedScopes::parse("openid profile", Account::Production, &[]).expect("ok");
        assert_eq!(s.service(), Service::Identification);
    }

    #[test]
    fn protected_scopes_need_a_grant_in_production_only() {
        assert_eq!(
            GrantedScopes::parse("openid nin", Account::Production, &[]),
            Err(ScopeError::NotGranted("nin"))
        );
        assert!(GrantedScopes::parse("openid nin", Account::Production, &["nin".into()]).is_ok());
        assert!(GrantedScopes::parse("openid nin nationality", Account::Sandbox, &[]).is_ok());
    }

    #[test]
    fn openid_is_required_and_unknown_scopes_are_ignored() {
        assert_eq!(
            GrantedScopes::parse("profile", Account::Sandbox, &[]),
            Err(ScopeError::MissingOpenid)
        );
        let s = GrantedScopes::parse("openid_connect openid  openid", Account::Sandbox, &[])
            .expect("ok");
        assert_eq!(s.to_scope_string(), "openid");
        assert_eq!(s.service(), Service::Authentication);
    }

    #[test]
    fn protected_claims_stay_out_of_the_id_token() {
        let s = GrantedScopes::parse("openid profile nin", Account::Sandbox, &[]).expect("ok");
        assert!(s.claims().contains("nin"));
        assert!(!s.id_token_claims().contains("nin"));
        assert!(s.id_token_claims().contains("birthdate"));
    }
}
