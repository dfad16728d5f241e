//! `passerelle client add|list|show|update|remove`. Output uses the RFC 7591 member names.

use anyhow::{Context as _, bail};
use passerelle_store::{ClientRecord, Store};
pub use passerelle_web::clients::{ClientInput, FormatsInput, describe};
use passerelle_web::clients::{merge, new_client_id};

pub fn print(c: &ClientRecord, secret: Option<&str>, as_json: bool) {
    if as_json {
        crate::out!(
            "{}",
            serde_json::to_string_pretty(&describe(c, secret)).unwrap_or_default()
        );
        return;
    }
    crate::out!("client_id:     {}", c.id);
    if let Some(s) = secret {
        crate::out!("client_secret: {s}");
        crate::out!("               (shown once: store it now; only its hash is kept)");
    }
    crate::out!("name:          {}", c.name);
    crate::out!("account:       {}", c.account.as_str());
    crate::out!("auth method:   {}", c.auth_method.as_str());
    crate::out!("ID token alg:  {}", c.id_token_alg.as_str());
    let f = &c.formats;
    if let Some(e) = f.id_token_encryption {
        crate::out!("ID token enc:  {} / {}", e.alg.as_str(), e.enc.as_str());
    }
    crate::out!("ID token has:  {} claims", f.id_token_claims.as_str());
    crate::out!(
        "userinfo:      {}{}",
        f.userinfo_signing.map_or("JSON", |a| a.as_str()),
        f.userinfo_encryption.map_or(String::new(), |e| format!(
            ", encrypted {} / {}",
            e.alg.as_str(),
            e.enc.as_str()
        ))
    );
    for u in &c.redirect_uris {
        crate::out!("redirect URI:  {u}");
    }
    match &c.ciba {
        None => crate::out!("CIBA:          (not allowed)"),
        Some(ciba) => {
            crate::out!(
                "CIBA:          {} mode{}",
                ciba.mode.as_str(),
                if ciba.signed_requests {
                    ", signed requests only"
                } else {
                    ""
                }
            );
            if let Some(e) = &ciba.notification_endpoint {
                crate::out!("notification:  {e}");
            }
        }
    }
    if let Some(w) = &c.signing_webhook {
        crate::out!("webhook:       {w}");
    }
    if c.dpop_bound_access_tokens {
        crate::out!("DPoP:          every token request, tokens bound to its key");
    }
    for u in &c.post_logout_redirect_uris {
        crate::out!("after logout:  {u}");
    }
    if c.par.require_pushed {
        crate::out!("PAR:           required");
    }
    if c.par.require_signed {
        crate::out!("request object: signed one required");
    }
    if let Some(p) = c.profile {
        crate::out!(
            "profile:       {} (PAR, private_key_jwt and DPoP with PS256/ES256)",
            p.as_str()
        );
    }
    crate::out!(
        "grants:        {}",
        if c.grants.is_empty() {
            "(none)".to_string()
        } else {
            c.grants.join(", ")
        }
    );
}

pub async fn add(
    store: &Store,
    input: &ClientInput,
    now: i64,
) -> anyhow::Result<(ClientRecord, Option<String>)> {
    let (client, secret) = merge(new_client_id(), None, input)?;
    store.insert_client(&client, now).await?;
    let record = store
        .find_client(&client.id)
        .await?
        .context("the new client was not stored")?;
    Ok((record, secret))
}

pub async fn update(
    store: &Store,
    id: &str,
    input: &ClientInput,
    now: i64,
) -> anyhow::Result<(ClientRecord, Option<String>)> {
    let current = store
        .find_client(id)
        .await?
        .with_context(|| format!("no client {id}"))?;
    let (client, secret) = merge(id.to_string(), Some(&current), input)?;
    if !store.update_client(&client, now).await? {
        bail!("no client {id}");
    }
    let record = store
        .find_client(id)
        .await?
        .with_context(|| format!("no client {id}"))?;
    Ok((record, secret))
}

/// The JWKS file an operator names with `--jwks`, as text (checked with the rest of the
/// registration).
pub fn read_jwks(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
