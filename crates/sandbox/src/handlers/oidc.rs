//! The scheme's OpenID Connect endpoints for its clients: discovery, the JWKS, the token
//! endpoint (private_key_jwt, signed then encrypted ID tokens) and userinfo.

use super::*;

pub(super) async fn discovery(State(sb): Shared) -> Response {
    let i = &sb.issuer;
    let claims: Vec<&str> = [
        "sub",
        "name",
        "given_name",
        "family_name",
        "gender",
        "birthdate",
        "locale",
        "email",
        "email_verified",
        "phone_number",
        "phone_number_verified",
        "address",
        uri::BE_NATIONAL_NUMBER,
        uri::BE_EID_SN,
        uri::ID_DOCUMENT_SN,
        uri::ID_DOCUMENT_TYPE,
        uri::ID_ISSUING_COUNTRY,
        uri::VALIDITY_FROM,
        uri::VALIDITY_TO,
        uri::ISSUANCE_LOCALITY,
        uri::VERIFICATION_DATE,
        uri::PLACE_OF_BIRTH,
        uri::CITIZENSHIP,
        uri::CITIZENSHIP_ISO,
        uri::BIRTHDATE_AS_STRING,
        uri::OFFICIAL_GENDER,
    ]
    .to_vec();
    axum::Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorization"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwkSet"),
        "scopes_supported": ["openid", "profile", "email", "address", "phone", "idDocument", "eid"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", passerelle_itsme::claims::CIBA_GRANT],
        "backchannel_authentication_endpoint": format!("{i}/backchannel/authentication"),
        "backchannel_token_delivery_modes_supported": ["poll"],
        "backchannel_authentication_request_signing_alg_values_supported": ["RS256"],
        "backchannel_user_code_parameter_supported": false,
        "subject_types_supported": ["pairwise"],
        "acr_values_supported": [uri::ACR_BASIC, uri::ACR_ADVANCED],
        "id_token_signing_alg_values_supported": ["RS256"],
        "id_token_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "id_token_encryption_enc_values_supported": ["A128CBC-HS256"],
        "userinfo_signing_alg_values_supported": ["RS256"],
        "userinfo_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "userinfo_encryption_enc_values_supported": ["A128CBC-HS256"],
        "request_object_signing_alg_values_supported": ["RS256"],
        "request_object_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "request_object_encryption_enc_values_supported": ["A128CBC-HS256", "A256CBC-HS512", "A128GCM", "A256GCM"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "claims_parameter_supported": true,
        "request_parameter_supported": true,
        "request_uri_parameter_supported": false,
        "ui_locales_supported": passerelle_i18n::Translator::languages(),
        "claims_supported": claims,
    }))
    .into_response()
}

pub(super) async fn jwks(State(sb): Shared) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=1800")],
        axum::Json(sb.public_jwks()),
    )
        .into_response()
}

/// Authenticates a client by its private_key_jwt assertion (RFC 7523 §3, itsme's token request).
pub(super) async fn authenticate_client<'a>(
    sb: &'a Sandbox,
    form: &Params,
    now: i64,
) -> Result<&'a SandboxClient, Failure> {
    if form.get("client_assertion_type")
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err(Failure::token(
            "invalid_client",
            "client authentication must be private_key_jwt",
        ));
    }
    let assertion = form
        .get("client_assertion")
        .ok_or_else(|| Failure::token("invalid_client", "client_assertion is missing"))?;
    let unverified = passerelle_jose::peek_payload(assertion)
        .map_err(|e| Failure::token("invalid_client", e.to_string()))?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let client = sb
        .client(iss)
        .ok_or_else(|| Failure::token("invalid_client", "unknown client"))?;
    if form.get("client_id").is_some_and(|c| c != client.client_id) {
        return Err(Failure::token(
            "invalid_client",
            "client_id does not match the assertion",
        ));
    }
    let claims = client
        .keys
        .get()
        .verify(assertion, &[SigAlg::Rs256])
        .map_err(|e| Failure::token("invalid_client", format!("client_assertion: {e}")))?;
    if claims.get("sub").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(Failure::token(
            "invalid_client",
            "client_assertion sub must be the client_id",
        ));
    }
    // itsme documents its token endpoint's URL as the assertion's audience; the issuer (RFC
    // 7523bis) is accepted too. Either as a single string: never an array.
    let token_endpoint = format!("{}/token", sb.issuer);
    // itsme's decoupled API documents its backchannel endpoint as the audience of the
    // assertions of user discovery sessions.
    let backchannel_endpoint = format!("{}/backchannel/authentication", sb.issuer);
    let check = passerelle_jose::ClaimsCheck {
        issuer: None,
        audience: passerelle_jose::Audience::OneOf(&[
            &token_endpoint,
            &sb.issuer,
            &backchannel_endpoint,
        ]),
        now,
        max_lifetime: Some(3600),
        expiry_skew: 0,
        future_skew: 60,
    };
    let exp = check.check(&claims).map_err(|problem| {
        use passerelle_jose::ClaimsProblem as P;
        Failure::token(
            "invalid_client",
            match problem {
                P::Audience => {
                    "client_assertion aud must be the token endpoint, as a single string".into()
                }
                P::NoExpiry => "client_assertion has no exp".into(),
                P::InTheFuture(member) => format!("client_assertion {member} is in the future"),
                P::Issuer | P::Expired | P::LivesTooLong => {
                    "client_assertion is expired or lives too long".to_string()
                }
            },
        )
    })?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 255 && !j.contains('\0'));
    let jti = jti.ok_or_else(|| {
        Failure::token(
            "invalid_client",
            "client_assertion needs a jti of at most 255 characters",
        )
    })?;
    if !sb
        .store
        .insert_jti(&format!("sandbox:{}", client.client_id), jti, exp)
        .await?
    {
        return Err(Failure::token(
            "invalid_client",
            "client_assertion was already used",
        ));
    }
    Ok(client)
}

pub(super) fn seal(
    sb: &Sandbox,
    client: &SandboxClient,
    claims: &Claims,
) -> Result<String, Failure> {
    let jws = sb
        .signing
        .sign(claims, Some("JWT"))
        .map_err(|e| Failure::Internal(e.to_string()))?;
    client
        .keys
        .get()
        .encrypt(jws.as_bytes(), sb.token_encryption)
        .map_err(|e| Failure::Internal(e.to_string()))
}

pub(super) async fn token(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    body: Bytes,
) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let form = parse_pairs(&body).map_err(|e| Failure::token("invalid_request", e.to_string()))?;
    let client = authenticate_client(&sb, &form, now).await?;
    // Per client once its assertion verified: anyone can name a client, and must not spend the
    // embedded connector's budget (that would stop every login).
    sb.limits
        .sandbox_token_per_client
        .check(&client.client_id)
        .map_err(|t| Failure::throttled(t, None))?;
    match form.get("grant_type") {
        Some("authorization_code") => {}
        Some(passerelle_itsme::claims::CIBA_GRANT) => {
            return super::decoupled::ciba_grant(&sb, client, &form, now).await;
        }
        _ => {
            return Err(Failure::token(
                "unsupported_grant_type",
                "grant_type must be authorization_code or urn:openid:params:grant-type:ciba",
            ));
        }
    }
    let code = form
        .get("code")
        .ok_or_else(|| Failure::token("invalid_request", "code is missing"))?;
    let action = sb
        .store
        .redeem_sandbox_code(&token_hash(code), now, false)
        .await?
        .ok_or_else(|| {
            Failure::token(
                "invalid_grant",
                "the code is unknown, expired or already used",
            )
        })?;
    if action.client_id != client.client_id {
        return Err(Failure::token(
            "invalid_grant",
            "the code was issued to another client",
        ));
    }
    if form.get("redirect_uri") != Some(action.redirect_uri.as_str()) {
        return Err(Failure::token(
            "invalid_grant",
            "redirect_uri differs from the authorization request",
        ));
    }
    if let Some(challenge) = &action.code_challenge
        && !verify_pkce(form.get("code_verifier").unwrap_or_default(), challenge)
    {
        return Err(Failure::token(
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        ));
    }
    issue_tokens(&sb, client, &action, now).await
}

/// The ID token (signed, then encrypted to the client) and the access token of a redeemed
/// action, for the authorization-code grant and the CIBA grant alike.
pub(super) async fn issue_tokens(
    sb: &Sandbox,
    client: &SandboxClient,
    action: &SandboxAction,
    now: i64,
) -> Reply {
    let persona = sb
        .persona_of(action)
        .ok_or_else(|| Failure::Internal("the persona of an approved action is gone".into()))?;
    let details: Value = serde_json::from_str(&action.claims).unwrap_or_default();
    let mut claims = persona.claims_for(&claim_names_list(&details, "id_token"));
    let sub = sb.sub_for(&client.client_id, &persona.phone_number);
    claims.insert("iss".into(), json!(sb.issuer));
    claims.insert("sub".into(), json!(sub));
    claims.insert("aud".into(), json!(client.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now + TOKEN_LIFETIME));
    claims.insert("auth_time".into(), json!(now));
    claims.insert("acr".into(), json!(acr_of(action).uri()));
    // A sandbox extension: itsme's ID token names only the strength asked for (`acr`); the
    // sandbox also tells how the person approved (RFC 8176), so that relying parties can see
    // it in their `amr`.
    if let Some(method) = action.approved_with {
        claims.insert("amr".into(), json!(method.amr()));
    }
    if let Some(n) = &action.nonce {
        claims.insert("nonce".into(), json!(n));
    }
    let id_token = seal(sb, client, &claims)?;
    let access_token = random_token(32);
    sb.store
        .insert_sandbox_token(&SandboxToken {
            token_hash: token_hash(&access_token),
            client_id: client.client_id.clone(),
            phone_number: persona.phone_number.clone(),
            claims: json!(claim_names_list(&details, "userinfo")).to_string(),
            created_at: now,
            expires_at: now + TOKEN_LIFETIME,
        })
        .await?;
    let body = json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "id_token": id_token });
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response())
}

pub(super) async fn userinfo(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            t.trim()
        }
        _ => {
            return Err(Failure::Bearer {
                error: None,
                description: "send the access token as Authorization: Bearer".into(),
            });
        }
    };
    let record = sb
        .store
        .find_sandbox_token(&token_hash(token), now)
        .await?
        .ok_or_else(|| Failure::Bearer {
            error: Some("invalid_token"),
            description: "the access token is unknown or expired".into(),
        })?;
    let client = sb
        .client(&record.client_id)
        .ok_or_else(|| Failure::Internal("token of an unknown client".into()))?;
    let persona = sb
        .personas
        .find(&record.phone_number)
        .ok_or_else(|| Failure::Internal("persona gone".into()))?;
    let names: Vec<String> = serde_json::from_str(&record.claims).unwrap_or_default();
    let mut claims = persona.claims_for(&names);
    claims.insert(
        "sub".into(),
        json!(sb.sub_for(&client.client_id, &persona.phone_number)),
    );
    claims.insert("iss".into(), json!(sb.issuer));
    claims.insert("aud".into(), json!(client.client_id));
    let jwt = seal(&sb, client, &claims)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jwt"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jwt,
    )
        .into_response())
}
