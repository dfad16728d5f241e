//! Interop with the Rust `openidconnect` crate (4.x), a relying-party library nobody here wrote,
//! over real HTTP. The crate does the RP's whole part: discovery (with the JWKS), the
//! authorization request (PKCE S256, nonce, state), the code exchange with `client_secret_basic`,
//! `client_secret_post` or a `private_key_jwt` assertion, ID-token verification (signature
//! against the published JWKS for RS256, PS256 and ES256, iss, aud, exp, nonce, at_hash),
//! userinfo, refresh, revocation, introspection and RP-initiated logout; refusals reach it as its
//! own error types. The person's part (phone number, approval) is the sandbox's, driven by the
//! harness's browser.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use josekit::jwk::{Jwk, alg::ec::EcCurve};
use josekit::jws::{ES256, JwsHeader};
use josekit::jwt::JwtPayload;
use openidconnect::core::*;
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, AdditionalProviderMetadata, AuthType,
    AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdTokenClaims, IdTokenFields, IdTokenVerifier, IntrospectionUrl, IssuerUrl,
    LogoutProviderMetadata, LogoutRequest, Nonce, NonceVerifier, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadata, RedirectUrl,
    RefreshToken, RequestTokenError, RevocationUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenIntrospectionResponse, UserInfoClaims, UserInfoError,
};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

const JAN: &str = "+32470000001";

/// oauth2's `AsyncHttpClient`, over the workspace's reqwest 0.13 (the crate's `reqwest` feature
/// would build reqwest 0.12 too). Redirects are not followed, as the crate asks (SSRF).
///
/// oauth2 refuses a revocation endpoint that is not https (RFC 7009 §2), and the test server is
/// plain HTTP on loopback; so the RP is given the https form of that one URL (see [`rp`]), and
/// this transport carries https to 127.0.0.1 as plain HTTP.
async fn http(mut request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let uri = request.uri().to_string();
    if let Some(rest) = uri.strip_prefix("https://127.0.0.1:") {
        *request.uri_mut() = format!("http://127.0.0.1:{rest}").parse().expect("uri");
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = client.execute(request.try_into()?).await?;
    let mut out = HttpResponse::new(Vec::new());
    *out.status_mut() = response.status();
    *out.headers_mut() = response.headers().clone();
    *out.body_mut() = response.bytes().await?.to_vec();
    Ok(out)
}

/// Discovery members beyond the core ones: revocation (RFC 7009) and introspection (RFC 7662).
#[derive(Clone, Debug, Deserialize, Serialize)]
struct TokenEndpoints {
    revocation_endpoint: RevocationUrl,
    introspection_endpoint: IntrospectionUrl,
}
impl AdditionalProviderMetadata for TokenEndpoints {}

/// Claims of itsme and Passerelle that OIDC Core does not define, read alongside the standard
/// ones.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ItsmeClaims {
    idp: Option<String>,
    sandbox: Option<bool>,
    nationality: Option<String>,
    nin: Option<String>,
    place_of_birth: Option<String>,
}
impl AdditionalClaims for ItsmeClaims {}

type Metadata = ProviderMetadata<
    LogoutProviderMetadata<TokenEndpoints>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type IdToken = openidconnect::IdToken<ItsmeClaims, CoreGenderClaim, Jwe, CoreJwsSigningAlgorithm>;
type Jwe = CoreJweContentEncryptionAlgorithm;
type Claims = IdTokenClaims<ItsmeClaims, CoreGenderClaim>;
type Tokens = StandardTokenResponse<
    IdTokenFields<
        ItsmeClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        Jwe,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
type OAuthError = StandardErrorResponse<CoreErrorResponseType>;
type TokenError = RequestTokenError<reqwest::Error, OAuthError>;

/// An RP built from discovery (authorization, token and userinfo endpoints), with revocation and
/// introspection endpoints once they are set.
type Rp<Introspection = EndpointSet, Revocation = EndpointSet> = Client<
    ItsmeClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    Jwe,
    CoreJsonWebKey,
    CoreAuthPrompt,
    OAuthError,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    Introspection,
    Revocation,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

async fn discover(app: &TestApp) -> Metadata {
    let issuer = IssuerUrl::new(app.issuer.clone()).expect("issuer");
    Metadata::discover_async(issuer, &http)
        .await
        .expect("the crate accepts the discovery document and the JWKS")
}

fn rp(metadata: &Metadata, id: &str, secret: Option<&str>) -> Rp {
    let more = &metadata.additional_metadata().additional_metadata;
    let mut revocation = more.revocation_endpoint.url().clone();
    revocation.set_scheme("https").expect("https");
    Rp::<EndpointNotSet, EndpointNotSet>::from_provider_metadata(
        metadata.clone(),
        ClientId::new(id.to_string()),
        secret.map(|s| ClientSecret::new(s.to_string())),
    )
    .set_redirect_uri(RedirectUrl::new(RP_CALLBACK.to_string()).expect("redirect"))
    .set_revocation_url(RevocationUrl::from_url(revocation))
    .set_introspection_url(more.introspection_endpoint.clone())
}

/// The crate's ID-token verifier, on the test's clock rather than the system's.
fn verifier<'a>(app: &TestApp, rp: &'a Rp) -> IdTokenVerifier<'a, CoreJsonWebKey> {
    let now = UNIX_EPOCH + Duration::from_secs(app.clock_now() as u64);
    rp.id_token_verifier().set_time_fn(move || now.into())
}

/// What the RP holds when the person comes back: the code, and what it must prove or check.
struct Callback {
    code: AuthorizationCode,
    verifier: PkceCodeVerifier,
    nonce: Nonce,
}

/// The crate builds the authorization request; the browser follows it, JAN approves in the
/// sandbox, and the browser lands on the RP's callback.
async fn authorize(app: &TestApp, rp: &Rp, scopes: &str) -> Callback {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(scopes.split(' ').map(|s| Scope::new(s.to_string())))
        .set_pkce_challenge(challenge)
        .url();
    let browser = app.browser();
    let resp = browser.get(url.as_str()).send().await.expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND, "{url}");
    let scheme_url = location(&resp);
    let page = browser.get(&scheme_url).send().await.expect("phone page");
    let login = Login {
        browser,
        verifier: verifier.secret().clone(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        scheme_url,
        phone_page: page.text().await.expect("body"),
    };
    let resp = app.submit_phone(&login, JAN).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let back = query_of(&app.follow_to_rp(&login.browser, location(&resp)).await);
    assert_eq!(back["state"], login.state);
    // RFC 9207: the crate does not check `iss` in the response; an RP using it does.
    assert_eq!(back["iss"], app.issuer);
    Callback {
        code: AuthorizationCode::new(back["code"].clone()),
        verifier,
        nonce,
    }
}

async fn redeem(rp: &Rp, callback: Callback) -> Result<Tokens, TokenError> {
    rp.exchange_code(callback.code)
        .expect("a token endpoint")
        .set_pkce_verifier(callback.verifier)
        .request_async(&http)
        .await
}

fn id_token(tokens: &Tokens) -> &IdToken {
    tokens.extra_fields().id_token().expect("an ID token")
}

/// Verifies the ID token as an RP must (OIDC Core §3.1.3.7), at_hash included (§3.1.3.8).
fn verified(app: &TestApp, rp: &Rp, tokens: &Tokens, nonce: impl NonceVerifier) -> Claims {
    let verifier = verifier(app, rp);
    let id_token = id_token(tokens);
    let claims = id_token.claims(&verifier, nonce).expect("a valid ID token");
    let alg = id_token.signing_alg().expect("alg");
    let key = id_token.signing_key(&verifier).expect("a key in the JWKS");
    let at_hash = AccessTokenHash::from_token(tokens.access_token(), alg, key).expect("hash");
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert_eq!(claims.issuer().as_str(), app.issuer);
    claims.clone()
}

/// A whole login as the crate sees it: authorization, code exchange, verified ID token.
async fn login(app: &TestApp, rp: &Rp, scopes: &str) -> (Tokens, Claims) {
    let callback = authorize(app, rp, scopes).await;
    let nonce = callback.nonce.clone();
    let tokens = redeem(rp, callback).await.expect("tokens");
    let claims = verified(app, rp, &tokens, &nonce);
    (tokens, claims)
}

/// Userinfo for the tokens' access token, expecting the ID token's subject.
async fn userinfo(
    rp: &Rp,
    tokens: &Tokens,
    claims: &Claims,
) -> Result<UserInfoClaims<ItsmeClaims, CoreGenderClaim>, UserInfoError<reqwest::Error>> {
    rp.user_info(
        tokens.access_token().clone(),
        Some(claims.subject().clone()),
    )
    .expect("a userinfo endpoint")
    .request_async(&http)
    .await
}

fn is_unauthorized<T>(result: Result<T, UserInfoError<reqwest::Error>>) -> bool {
    matches!(
        result,
        Err(UserInfoError::Response(StatusCode::UNAUTHORIZED, _, _))
    )
}

fn server_error(err: TokenError) -> CoreErrorResponseType {
    match err {
        RequestTokenError::ServerResponse(e) => e.error().clone(),
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

/// A login with the client's own authentication method, with the login claims checked.
async fn login_with(auth: AuthType, method: &str) {
    let app = TestApp::spawn().await;
    let metadata = discover(&app).await;
    let client = app.add_client("sandbox", method, &[]).await;
    let rp = rp(&metadata, &client.id, Some(&client.secret)).set_auth_type(auth);
    let (tokens, claims) = login(&app, &rp, "name email").await;
    assert_eq!(*tokens.token_type(), CoreTokenType::Bearer);
    let alg = id_token(&tokens).signing_alg().cloned();
    assert_eq!(alg, Ok(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256));
    assert_eq!(claims.audiences()[0].as_str(), client.id);
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("high"));
    assert_eq!(claims.additional_claims().idp.as_deref(), Some("itsme"));
    assert_eq!(claims.additional_claims().sandbox, Some(true));
    let given_name = claims.given_name().and_then(|n| n.get(None));
    assert_eq!(given_name.map(|n| n.as_str()), Some("Jan Pieter"));
    let info = userinfo(&rp, &tokens, &claims).await.expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
    let email = info.email().map(|e| e.as_str());
    assert_eq!(email, Some("jan.peeters@example.be"));
}

#[tokio::test]
async fn the_crate_logs_in_with_client_secret_basic() {
    login_with(AuthType::BasicAuth, "client_secret_basic").await;
}

#[tokio::test]
async fn the_crate_logs_in_with_client_secret_post() {
    login_with(AuthType::RequestBody, "client_secret_post").await;
}

#[tokio::test]
async fn ps256_and_es256_id_tokens_verify_against_the_published_jwks() {
    let app = TestApp::spawn().await;
    let metadata = discover(&app).await;
    for (alg, expected) in [
        ("PS256", CoreJwsSigningAlgorithm::RsaSsaPssSha256),
        ("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256),
    ] {
        let client = app
            .add_client_with("sandbox", "client_secret_basic", &[], alg, None)
            .await;
        let rp = rp(&metadata, &client.id, Some(&client.secret));
        let (tokens, claims) = login(&app, &rp, "name").await;
        let id_token = id_token(&tokens);
        assert_eq!(id_token.signing_alg(), Ok(&expected), "{alg}");
        // A verifier that takes only the registered algorithm accepts the token (with no nonce
        // check here: `login` did it); one that takes only RS256 does not.
        let any_nonce = |_: Option<&Nonce>| Ok(());
        let pinned = verifier(&app, &rp).set_allowed_algs([expected]);
        assert!(id_token.claims(&pinned, any_nonce).is_ok(), "{alg}");
        let rs256 = [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
        let rs256_only = verifier(&app, &rp).set_allowed_algs(rs256);
        assert!(id_token.claims(&rs256_only, any_nonce).is_err(), "{alg}");
        let info = userinfo(&rp, &tokens, &claims).await.expect("userinfo");
        assert_eq!(info.subject(), claims.subject());
    }
}

#[tokio::test]
async fn identification_claims_are_read_through_the_crates_claim_types() {
    let app = TestApp::spawn().await;
    let metadata = discover(&app).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let rp = rp(&metadata, &client.id, Some(&client.secret));
    let scopes = "profile email phone address nin nationality place-of-birth";
    let (tokens, id) = login(&app, &rp, scopes).await;
    let info = userinfo(&rp, &tokens, &id).await.expect("userinfo");
    // Userinfo's standard claims, in the crate's types...
    let claims = info.standard_claims();
    let name = claims.name().and_then(|n| n.get(None));
    assert_eq!(name.map(|n| n.as_str()), Some("Jan Pieter Peeters"));
    let family_name = claims.family_name().and_then(|n| n.get(None));
    assert_eq!(family_name.map(|n| n.as_str()), Some("Peeters"));
    assert_eq!(claims.birthdate().map(|b| b.as_str()), Some("1985-07-30"));
    assert_eq!(claims.gender().map(|g| g.as_str()), Some("male"));
    assert_eq!(claims.locale().map(|l| l.as_str()), Some("nl"));
    assert_eq!(claims.email_verified(), Some(false));
    assert_eq!(claims.phone_number().map(|p| p.as_str()), Some(JAN));
    assert_eq!(claims.phone_number_verified(), Some(true));
    let address = serde_json::to_value(claims.address()).expect("json");
    let expected = serde_json::json!({
        "formatted": "Kerkstraat 12\n2000 Antwerpen",
        "street_address": "Kerkstraat 12",
        "locality": "Antwerpen",
        "postal_code": "2000",
        "country": "BE",
    });
    assert_eq!(address, expected);
    // ...are the ID token's.
    assert_eq!(id.name(), claims.name());
    assert_eq!(id.birthdate(), claims.birthdate());
    assert_eq!(id.gender(), claims.gender());
    assert_eq!(id.locale(), claims.locale());
    assert_eq!(id.phone_number(), claims.phone_number());
    assert_eq!(id.address(), claims.address());
    // The protected claims are at userinfo only.
    let extra = info.additional_claims();
    assert_eq!(extra.nin.as_deref(), Some("85073001744"));
    assert_eq!(extra.nationality.as_deref(), Some("BEL"));
    assert_eq!(extra.place_of_birth.as_deref(), Some("Antwerpen"));
    assert!(id.additional_claims().nin.is_none());
}

/// A client with the `refresh_token` grant, logged in with `offline_access`.
async fn offline(app: &TestApp, metadata: &Metadata) -> (Rp, Tokens, Claims) {
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let rp = rp(metadata, &client.id, Some(&client.secret));
    let (tokens, claims) = login(app, &rp, "name offline_access").await;
    (rp, tokens, claims)
}

async fn refresh(rp: &Rp, token: &RefreshToken) -> Result<Tokens, TokenError> {
    rp.exchange_refresh_token(token)
        .expect("a token endpoint")
        .request_async(&http)
        .await
}

#[tokio::test]
async fn a_refresh_rotates_the_token_and_the_old_one_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let metadata = discover(&app).await;
    let (rp, first, first_claims) = offline(&app, &metadata).await;
    let offline_access = Scope::new("offline_access".into());
    assert!(first.scopes().expect("scope").contains(&offline_access));
    let first_rt = first.refresh_token().expect("a refresh token");

    app.clock.advance(120);
    let second = refresh(&rp, first_rt).await.expect("refreshed");
    let second_rt = second.refresh_token().expect("a rotated refresh token");
    assert_ne!(second_rt.secret(), first_rt.secret());
    // OIDC Core §12.2: a new ID token for the same person, without a nonce.
    let no_nonce = |n: Option<&Nonce>| match n {
        None => Ok(()),
        Some(_) => Err("a refreshed ID token has no nonce".to_string()),
    };
    let claims = verified(&app, &rp, &second, no_nonce);
    assert_eq!(claims.subject(), first_claims.subject());
    assert!(userinfo(&rp, &second, &claims).await.is_ok());

    // The rotated token works once; the one it replaced, and then itself, are refused as OAuth
    // errors the crate parses.
    let third = refresh(&rp, second_rt).await.expect("refreshed again");
    assert!(third.refresh_token().is_some());
    for spent in [first_rt, second_rt] {
        let err = refresh(&rp, spent).await.expect_err("spent");
        assert_eq!(server_error(err), CoreErrorResponseType::InvalidGrant);
    }
}

async fn introspect(resource_server: &Rp, token: &AccessToken) -> CoreTokenIntrospectionResponse {
    let request = resource_server.introspect(token);
    request.request_async(&http).await.expect("introspection")
}

#[tokio::test]
async fn the_crate_revokes_and_a_resource_server_introspects_through_it() {
    let app = TestApp::spawn().await;
    let metadata = discover(&app).await;
    let (rp, tokens, claims) = offline(&app, &metadata).await;
    let server = app
        .add_client("production", "client_secret_basic", &["introspection"])
        .await;
    let resource_server = self::rp(&metadata, &server.id, Some(&server.secret));
    let at = tokens.access_token();
    let info = introspect(&resource_server, at).await;
    assert!(info.active());
    assert_eq!(info.client_id(), Some(rp.client_id()));
    assert_eq!(info.aud(), Some(&vec![rp.client_id().to_string()]));
    assert_eq!(info.sub(), Some(claims.subject().as_str()));
    assert_eq!(info.iss(), Some(app.issuer.as_str()));
    assert_eq!(info.token_type(), Some(&CoreTokenType::Bearer));
    let scopes = info.scopes().expect("scope");
    assert!(scopes.contains(&Scope::new("offline_access".into())));
    let exp = info.exp().expect("exp").timestamp();
    assert_eq!(exp, app.clock_now() + 600);

    // Revoking the access token (RFC 7009) ends it at userinfo and for the resource server.
    let revocation = rp.revoke_token(at.into()).expect("a revocation endpoint");
    revocation.request_async(&http).await.expect("revoked");
    assert!(!introspect(&resource_server, at).await.active());
    assert!(is_unauthorized(userinfo(&rp, &tokens, &claims).await));

    // Revoking the refresh token ends its family: the crate's refresh is invalid_grant.
    let rt = tokens.refresh_token().expect("refresh token");
    let revocation = rp.revoke_token(rt.into()).expect("a revocation endpoint");
    revocation.request_async(&http).await.expect("revoked");
    let err = refresh(&rp, rt).await.expect_err("revoked");
    assert_eq!(server_error(err), CoreErrorResponseType::InvalidGrant);
}

#[tokio::test]
async fn the_crate_authenticates_with_a_private_key_jwt_assertion_as_extra_parameters() {
    let app = TestApp::spawn().await;
    let metadata = discover(&app).await;
    let methods = metadata.token_endpoint_auth_methods_supported();
    assert!(
        methods
            .expect("auth methods")
            .contains(&CoreClientAuthMethod::PrivateKeyJwt)
    );
    let mut key = Jwk::generate_ec_key(EcCurve::P256).expect("key");
    key.set_key_id("rp-1");
    let mut public = key.to_public_key().expect("public");
    public.set_key_id("rp-1");
    let jwks = serde_json::json!({ "keys": [public.as_ref()] }).to_string();
    let client = app
        .add_client_with("sandbox", "private_key_jwt", &[], "ES256", Some(jwks))
        .await;
    // RFC 7523 §3: signed by the client, about itself, for the issuer.
    let mut payload = JwtPayload::new();
    payload.set_issuer(&client.id);
    payload.set_subject(&client.id);
    payload.set_audience(vec![app.issuer.as_str()]);
    payload.set_jwt_id(passerelle_store::random_token(12));
    let now = UNIX_EPOCH + Duration::from_secs(app.clock_now() as u64);
    payload.set_issued_at(&now);
    payload.set_expires_at(&(now + Duration::from_secs(60)));
    let mut header = JwsHeader::new();
    header.set_key_id("rp-1");
    let signer = ES256.signer_from_jwk(&key).expect("signer");
    let assertion = josekit::jwt::encode_with_signer(&payload, &header, &signer).expect("sign");

    // No secret: the crate sends client_id in the body, and the assertion goes alongside.
    let rp = rp(&metadata, &client.id, None);
    let callback = authorize(&app, &rp, "name").await;
    let nonce = callback.nonce.clone();
    let tokens = rp
        .exchange_code(callback.code)
        .expect("a token endpoint")
        .set_pkce_verifier(callback.verifier)
        .add_extra_param(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .add_extra_param("client_assertion", assertion)
        .request_async(&http)
        .await
        .expect("tokens");
    let claims = verified(&app, &rp, &tokens, &nonce);
    let alg = id_token(&tokens).signing_alg().cloned();
    assert_eq!(alg, Ok(CoreJwsSigningAlgorithm::EcdsaP256Sha256));
    assert!(userinfo(&rp, &tokens, &claims).await.is_ok());
    // Without an assertion, the crate's request is invalid_client.
    let callback = authorize(&app, &rp, "name").await;
    let err = redeem(&rp, callback).await.expect_err("no assertion");
    assert_eq!(server_error(err), CoreErrorResponseType::InvalidClient);
}

#[tokio::test]
async fn the_crates_verifier_refuses_a_wrong_nonce_a_tampered_token_and_another_audience() {
    let app = TestApp::spawn().await;
    let metadata = discover(&app).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let rp = rp(&metadata, &client.id, Some(&client.secret));
    let callback = authorize(&app, &rp, "name").await;
    let nonce = callback.nonce.clone();
    let tokens = redeem(&rp, callback).await.expect("tokens");
    let verifier = verifier(&app, &rp);
    let id_token = id_token(&tokens);
    assert!(id_token.claims(&verifier, &nonce).is_ok());

    let wrong_nonce = id_token.claims(&verifier, &Nonce::new("another".into()));
    assert!(matches!(
        wrong_nonce,
        Err(ClaimsVerificationError::InvalidNonce(_))
    ));

    // Another subject in the payload, the signature kept.
    let jwt = id_token.to_string();
    let [header, payload, signature] = jwt.split('.').collect::<Vec<_>>()[..] else {
        panic!("a JWS");
    };
    let mut payload: serde_json::Value =
        serde_json::from_slice(&B64.decode(payload).expect("b64")).expect("json");
    payload["sub"] = "someone-else".into();
    let payload = B64.encode(payload.to_string());
    let forged: IdToken = format!("{header}.{payload}.{signature}")
        .parse()
        .expect("a JWT");
    let forged = forged.claims(&verifier, &nonce);
    assert!(matches!(
        forged,
        Err(ClaimsVerificationError::SignatureVerification(_))
    ));

    // A token for this client is not one for another, and it expires on the clock.
    let other = self::rp(&metadata, "another-client", None);
    let for_other = id_token.claims(&self::verifier(&app, &other), &nonce);
    assert!(matches!(
        for_other,
        Err(ClaimsVerificationError::InvalidAudience(_))
    ));
    app.clock.advance(3600);
    let late = id_token.claims(&self::verifier(&app, &rp), &nonce);
    assert!(matches!(late, Err(ClaimsVerificationError::Expired(_))));
}

#[tokio::test]
async fn a_replayed_code_a_wrong_verifier_and_a_wrong_secret_reach_the_crate_as_oauth_errors() {
    let app = TestApp::spawn().await;
    let metadata = discover(&app).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let rp = rp(&metadata, &client.id, Some(&client.secret));

    let callback = authorize(&app, &rp, "name").await;
    let replay = Callback {
        code: callback.code.clone(),
        verifier: PkceCodeVerifier::new(callback.verifier.secret().clone()),
        nonce: callback.nonce.clone(),
    };
    redeem(&rp, callback).await.expect("the first redemption");
    let err = redeem(&rp, replay).await.expect_err("a replayed code");
    assert_eq!(server_error(err), CoreErrorResponseType::InvalidGrant);

    let mut callback = authorize(&app, &rp, "name").await;
    callback.verifier = PkceCodeVerifier::new(passerelle_store::random_token(32));
    let err = redeem(&rp, callback).await.expect_err("a wrong verifier");
    assert_eq!(server_error(err), CoreErrorResponseType::InvalidGrant);

    let callback = authorize(&app, &rp, "name").await;
    let impostor = self::rp(&metadata, &client.id, Some("not-the-secret"));
    let err = redeem(&impostor, callback)
        .await
        .expect_err("a wrong secret");
    assert_eq!(server_error(err), CoreErrorResponseType::InvalidClient);
}

#[tokio::test]
async fn the_crates_logout_request_ends_the_login_and_returns_with_the_state() {
    let app = TestApp::spawn().await;
    let metadata = discover(&app).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let rp = rp(&metadata, &client.id, Some(&client.secret));
    let (tokens, claims) = login(&app, &rp, "name").await;

    let end_session = metadata.additional_metadata().end_session_endpoint.clone();
    let bye = PostLogoutRedirectUrl::new("https://rp.example/bye".into()).expect("url");
    let url = LogoutRequest::from(end_session.expect("an end_session_endpoint"))
        .set_id_token_hint(id_token(&tokens))
        .set_post_logout_redirect_uri(bye)
        .set_state(CsrfToken::new("bye-state".into()))
        .http_get_url();
    let resp = app
        .browser()
        .get(url.as_str())
        .send()
        .await
        .expect("endsession");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "https://rp.example/bye?state=bye-state");
    assert!(is_unauthorized(userinfo(&rp, &tokens, &claims).await));
}
