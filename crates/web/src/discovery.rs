//! Discovery (OIDC Discovery §3) and the JWKS, advertising only what is implemented.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use passerelle_core::formats::{ContentEncryption, KeyManagement};
use passerelle_core::oidc::IdTokenAlg;
use passerelle_core::scopes::SCOPES;
use serde_json::{Value, json};

use crate::{Broker, keys};

pub(crate) async fn configuration(State(b): State<Arc<Broker>>) -> Response {
    let i = &b.issuer;
    let mut claims: BTreeSet<&str> = [
        "iss",
        "aud",
        "exp",
        "iat",
        "nbf",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "idp",
        "at_hash",
        "sid",
        "sandbox",
    ]
    .into();
    for s in SCOPES {
        claims.extend(s.claims.iter().copied());
    }
    let scopes: Vec<&str> = SCOPES.iter().map(|s| s.name).collect();
    let signing = IdTokenAlg::ALL.map(IdTokenAlg::as_str);
    let key_management = KeyManagement::ALL.map(KeyManagement::as_str);
    let content = ContentEncryption::ALL.map(ContentEncryption::as_str);
    // In two parts: one json! of every member exceeds the macro's recursion limit.
    let mut doc = json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/connect/authorize"),
        "token_endpoint": format!("{i}/connect/token"),
        "userinfo_endpoint": format!("{i}/connect/userinfo"),
        "end_session_endpoint": format!("{i}/connect/endsession"),
        "jwks_uri": format!("{i}/.well-known/openid-configuration/jwks"),
        "scopes_supported": scopes,
        "claims_supported": claims,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", passerelle_itsme::claims::CIBA_GRANT],
        "revocation_endpoint": format!("{i}/connect/revocation"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "introspection_endpoint": format!("{i}/connect/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "introspection_signing_alg_values_supported": ["RS256"],
    });
    let rest = json!({
        "backchannel_authentication_endpoint": format!("{i}/connect/ciba"),
        "backchannel_token_delivery_modes_supported": ["poll", "ping"],
        "backchannel_authentication_request_signing_alg_values_supported": ["RS256", "ES256"],
        "backchannel_user_code_parameter_supported": false,
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": signing,
        "id_token_encryption_alg_values_supported": key_management,
        "id_token_encryption_enc_values_supported": content,
        "userinfo_signing_alg_values_supported": signing,
        "userinfo_encryption_alg_values_supported": key_management,
        "userinfo_encryption_enc_values_supported": content,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": passerelle_jose::dpop::PROOF_ALGS,
        "claim_types_supported": ["normal"],
        "acr_values_supported": ["idp:itsme", "loa:low", "loa:substantial", "loa:high", passerelle_core::login::Acr::ADVANCED_URI],
        "prompt_values_supported": passerelle_core::oidc::PROMPT_VALUES,
        "display_values_supported": passerelle_core::oidc::DISPLAY_VALUES,
        "claims_parameter_supported": true,
        "request_parameter_supported": true,
        // By reference only from the PAR endpoint, which has its own metadata (RFC 9126 §5):
        // Passerelle fetches no URL a client names, so it does not claim OIDC's request_uri.
        "request_uri_parameter_supported": false,
        "pushed_authorization_request_endpoint": format!("{i}/connect/par"),
        "require_pushed_authorization_requests": false,
        "request_object_signing_alg_values_supported": passerelle_jose::REQUEST_OBJECT_SIGNING_ALGS,
        "request_object_encryption_alg_values_supported": passerelle_jose::REQUEST_OBJECT_ENCRYPTION_ALGS,
        "request_object_encryption_enc_values_supported": passerelle_jose::REQUEST_OBJECT_ENCRYPTION_ENCS,
        "require_request_uri_registration": false,
        "authorization_response_iss_parameter_supported": true,
        "ui_locales_supported": passerelle_i18n::Translator::languages(),
    });
    if let (Some(doc), Value::Object(rest)) = (doc.as_object_mut(), rest) {
        doc.extend(rest);
    }
    if b.registration {
        doc["registration_endpoint"] = json!(format!("{i}/connect/register"));
    }
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(doc),
    )
        .into_response()
}

/// The broker's JWKS: every published key, each algorithm's current key first. Its max-age is
/// half the activation delay of a new key (`keys::activation_delay`), so a copy cached before a
/// rotation has expired before the new key signs.
pub(crate) async fn jwks(State(b): State<Arc<Broker>>) -> Response {
    let now = b.clock.now();
    b.refresh_keys(now).await;
    let doc = b.keys.ring.public_jwks(keys::OP_JWKS, now);
    cached_jwks(doc, keys::jwks_max_age(keys::OP_JWKS))
}

/// The connector's public keys: the `jwks_uri` to register with itsme, under the same rule.
pub(crate) async fn connector_jwks(State(b): State<Arc<Broker>>) -> Response {
    let now = b.clock.now();
    b.refresh_keys(now).await;
    let c = b
        .production_connector
        .as_ref()
        .unwrap_or(&b.sandbox_connector);
    cached_jwks(c.public_jwks(now), keys::jwks_max_age(keys::CONNECTOR_JWKS))
}

fn cached_jwks(doc: serde_json::Value, max_age: i64) -> Response {
    (
        [(header::CACHE_CONTROL, format!("public, max-age={max_age}"))],
        axum::Json(doc),
    )
        .into_response()
}
