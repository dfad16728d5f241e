//! itsme's decoupled API (CIBA), as the sandbox emulates it (`shared/reference/
//! signing-and-channels.md` §4.2): `POST /backchannel/authentication` takes only a signed
//! `request` JWT and a client assertion, names the person with a `login_hint_token` JWT
//! (`subject_code`, or the sandbox's own `phone_number`; `login_hint` and `id_token_hint` are
//! refused, as itsme refuses them), and answers `auth_req_id`, `expires_in` and `interval`; the
//! token endpoint's CIBA grant answers `authorization_pending`, `slow_down` (HTTP 429, and 5 s
//! more), `expired_token`, `access_denied` or the tokens — errors with `detail`, as itsme's.
//!
//! A decoupled action is a `core::flow` action whose phone number is known from the start: it
//! is inserted waiting for a phone number and at once given it (`PhoneSubmitted`), so scripted
//! personas decide there and then and manual ones wait in the app, where the emulated phone's
//! inbox (`/app/inbox?phone=…`) lists them. Its `auth_req_id` is its code (`Sandbox::code_for`),
//! so only its SHA-256 is stored and redemption is the code's single `UPDATE`.
//!
//! User discovery sessions (itsme's QR path): `POST /user_discovery_sessions` opens one, its
//! polls (`POST /user_discovery_sessions/{id}`) give a fresh QR each time until a person's
//! emulated app "scans" it (`/app/discover/{id}`, where the person says which sandbox account
//! they are), then `USER_DISCOVERED` with a single-use `user_identifier_token` for the
//! backchannel request's `login_hint_token`.

use super::*;

/// How often a client may poll a decoupled action, to begin with (itsme's example: 2 s).
const POLL_INTERVAL: i64 = 2;

fn refuse(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Failure {
    Failure::Decoupled {
        status,
        error,
        detail: detail.into(),
    }
}

fn bad(error: &'static str, detail: impl Into<String>) -> Failure {
    refuse(StatusCode::BAD_REQUEST, error, detail)
}

/// A token-endpoint failure worded as the decoupled API words it (`detail`; `invalid_client`
/// with 401, as itsme's backchannel endpoint answers it).
fn as_decoupled(f: Failure) -> Failure {
    match f {
        Failure::Token {
            error, description, ..
        } => {
            let status = if error == "invalid_client" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            refuse(status, error, description)
        }
        other => other,
    }
}

/// Whom a `login_hint_token` names: a persona's phone number, or the error for the client.
async fn person_of(sb: &Sandbox, client: &SandboxClient, jwt: &str) -> Result<String, Failure> {
    let hint = client
        .keys
        .get()
        .verify(jwt, &[SigAlg::Rs256])
        .map_err(|e| bad("invalid_request", format!("login_hint_token: {e}")))?;
    let value = hint
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match hint.get("type").and_then(Value::as_str) {
        Some("subject_code") => sb
            .personas
            .all()
            .iter()
            .find(|p| sb.sub_for(&client.client_id, &p.phone_number) == value)
            .map(|p| p.phone_number.clone())
            .ok_or_else(|| bad("unknown_user_id", "no itsme user has this subject")),
        Some("phone_number") => {
            let number = crate::personas::normalize_phone(value)
                .filter(|n| n == value)
                .ok_or_else(|| {
                    bad(
                        "invalid_request",
                        "login_hint_token: a phone_number must be in E.164 form",
                    )
                })?;
            sb.personas
                .find(&number)
                .map(|p| p.phone_number.clone())
                .ok_or_else(|| bad("unknown_user_id", "no itsme user has this phone number"))
        }
        Some("user_identifier_token") => sb
            .store
            .take_user_identifier(&token_hash(value), &client.client_id, sb.clock.now())
            .await?
            .ok_or_else(|| {
                bad(
                    "expired_login_hint_token",
                    "the user_identifier_token is unknown, expired or was already used",
                )
            }),
        _ => Err(bad(
            "invalid_request",
            "login_hint_token type must be subject_code or user_identifier_token",
        )),
    }
}

/// A positive number of seconds from a JSON number or string.
fn seconds(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|n| *n > 0)
}

pub(super) async fn backchannel_authentication(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    body: Bytes,
) -> Reply {
    let now = sb.clock.now();
    // Each request costs two RSA verifications.
    sb.limits
        .sandbox_authorization_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let form = parse_pairs(&body).map_err(|e| bad("invalid_request", e.to_string()))?;
    if let Some((name, _)) = form.pairs().iter().find(|(k, _)| {
        !matches!(
            k.as_str(),
            "request" | "client_assertion" | "client_assertion_type" | "client_id"
        )
    }) {
        return Err(bad(
            "invalid_request",
            format!("{name} must be inside the signed request, not a plain parameter"),
        ));
    }
    let client = authenticate_client(&sb, &form, now)
        .await
        .map_err(as_decoupled)?;
    let jwt = form
        .get("request")
        .ok_or_else(|| bad("invalid_request", "request (a signed JWT) is required"))?;
    let object = client
        .keys
        .get()
        .verify(jwt, &[SigAlg::Rs256])
        .map_err(|e| bad("invalid_request", format!("request: {e}")))?;
    let backchannel_endpoint = format!("{}/backchannel/authentication", sb.issuer);
    let check = passerelle_jose::ClaimsCheck {
        issuer: Some(&client.client_id),
        audience: passerelle_jose::Audience::OneOf(&[&sb.issuer, &backchannel_endpoint]),
        now,
        max_lifetime: Some(3600),
        expiry_skew: 0,
        future_skew: 60,
    };
    let exp = check.check(&object).map_err(|problem| {
        use passerelle_jose::ClaimsProblem as P;
        bad(
            "invalid_request",
            match problem {
                P::Issuer => "request: iss must be the client_id".to_string(),
                P::Audience => "request: aud must be the issuer, as a single string".into(),
                P::NoExpiry | P::Expired | P::LivesTooLong => {
                    "request: exp is missing, past, or more than an hour away".into()
                }
                P::InTheFuture(m) => format!("request: {m} is in the future"),
            },
        )
    })?;
    if object.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(bad(
            "invalid_request",
            "request: client_id must be the client's",
        ));
    }
    let jti = object
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 255 && !j.contains('\0'))
        .ok_or_else(|| bad("invalid_request", "request: jti is required"))?;
    if !sb
        .store
        .insert_jti(&format!("sandbox-request:{}", client.client_id), jti, exp)
        .await?
    {
        return Err(bad("invalid_request", "request: this jti was already used"));
    }
    for unsupported in ["login_hint", "id_token_hint"] {
        if object.contains_key(unsupported) {
            return Err(bad(
                "invalid_request",
                format!("{unsupported} is not supported; use login_hint_token"),
            ));
        }
    }
    let (service, mut details) =
        request_details(client, &object).map_err(|(error, detail)| bad(error, detail))?;
    if let Some(m) = object.get("binding_message") {
        let m = m.as_str().unwrap_or_default();
        passerelle_core::ciba::check_binding_message(m)
            .map_err(|e| bad("invalid_binding_message", e.description))?;
        details["binding_message"] = json!(m);
    }
    // As at the authorization endpoint: acr_advanced demands the code, else biometrics may do.
    let advanced = object
        .get("acr_values")
        .and_then(Value::as_str)
        .is_some_and(|v| {
            v.split(' ')
                .any(|x| Acr::from_uri(x) == Some(Acr::Advanced))
        });
    details["acr"] = json!(if advanced { Acr::Advanced } else { Acr::Basic }.as_str());
    let requested_expiry = match object.get("requested_expiry") {
        None => None,
        Some(v) => Some(seconds(v).ok_or_else(|| {
            bad(
                "invalid_request",
                "requested_expiry must be a positive integer",
            )
        })?),
    };
    let hint = object
        .get("login_hint_token")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("invalid_request", "login_hint_token is required"))?;
    let phone = person_of(&sb, client, hint).await?;
    let persona = sb
        .personas
        .find(&phone)
        .ok_or_else(|| Failure::Internal("persona gone".into()))?;
    let id = random_token(18);
    let auth_req_id = sb.code_for(&id)?;
    let action = SandboxAction {
        id: id.clone(),
        client_id: client.client_id.clone(),
        redirect_uri: String::new(),
        state: None,
        nonce: None,
        service: service.as_str().into(),
        claims: details.to_string(),
        code_challenge: None,
        ui_locales: None,
        login_hint: None,
        phone_number: None,
        status: ActionState::AwaitingPhone,
        deadline: None,
        code_hash: Some(token_hash(&auth_req_id)),
        approved_with: None,
        created_at: now,
        expires_at: now + ACTION_LIFETIME,
        poll_interval: Some(POLL_INTERVAL),
    };
    if !matches!(
        sb.store.insert_sandbox_action(&action, now).await?,
        NewAction::Inserted
    ) {
        return Err(Failure::Internal("a fresh action id was taken".into()));
    }
    // As on the phone page: a blocked account gets no action, and ends as after three wrong
    // codes; scripted personas decide at once.
    let scripted = persona.behaviour();
    let behaviour = if matches!(scripted, Behaviour::Manual | Behaviour::Timeout)
        && sb.store.sandbox_account_blocked(&phone, now).await?
    {
        Behaviour::Blocked
    } else {
        scripted
    };
    let app_timeout = persona.app_timeout_seconds.unwrap_or(sb.app_timeout_secs);
    let expires_in = requested_expiry.map_or(app_timeout, |r| r.min(app_timeout));
    let event = ActionEvent::PhoneSubmitted {
        behaviour,
        app_timeout_secs: expires_in,
    };
    let _ = apply(&sb, action, event, Some(phone)).await?;
    tracing::info!(sandbox.action = %&id[..8], sandbox.client = %client.client_id, sandbox.service = service.as_str(), "sandbox backchannel authentication started");
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "auth_req_id": auth_req_id,
            "expires_in": expires_in,
            "interval": POLL_INTERVAL,
        })),
    )
        .into_response())
}

/// The CIBA grant at the sandbox's token endpoint, for an authenticated client.
pub(super) async fn ciba_grant(
    sb: &Sandbox,
    client: &SandboxClient,
    form: &Params,
    now: i64,
) -> Reply {
    let auth_req_id = form
        .get("auth_req_id")
        .ok_or_else(|| bad("invalid_request", "auth_req_id is missing"))?;
    let hash = token_hash(auth_req_id);
    let unknown = || {
        bad(
            "invalid_grant",
            "the auth_req_id is unknown or was already used",
        )
    };
    let action = sb
        .store
        .find_sandbox_action_by_code(&hash, now)
        .await?
        .filter(|a| a.is_decoupled() && a.client_id == client.client_id)
        .ok_or_else(unknown)?;
    let (action, _) = apply(sb, action, ActionEvent::Observed, None).await?;
    match action.status {
        ActionState::AwaitingPhone | ActionState::AwaitingApp { .. } => {
            match sb.store.pace_sandbox_poll(&action.id, now).await? {
                SandboxPace::InTime => Err(bad(
                    "authorization_pending",
                    "the user has not answered in the itsme app yet",
                )),
                SandboxPace::TooFast { interval } => Err(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "slow_down",
                    format!("poll at most every {interval} seconds"),
                )),
            }
        }
        ActionState::Rejected(Rejection::TimedOut) => Err(bad(
            "expired_token",
            "the auth_req_id expired before the user answered",
        )),
        ActionState::Rejected(r) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "access_denied",
            r.description(),
        )),
        ActionState::Redeemed => Err(unknown()),
        ActionState::Approved => {
            let redeemed = sb
                .store
                .redeem_sandbox_code(&hash, now, true)
                .await?
                .ok_or_else(unknown)?;
            issue_tokens(sb, client, &redeemed, now).await
        }
    }
}

/// The emulated phone's inbox: the actions waiting in the app of the person whose phone number
/// is given (a form asks for it otherwise), each with who asks, its binding message and a link
/// to the app page where the person approves with the code or refuses.
pub(super) async fn inbox_page(
    State(sb): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let tr = translator(None, &headers);
    let params = parse_pairs(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    // Without a number, the inbox of the person this browser's emulated phone belongs to.
    let typed: String = match params.get("phone") {
        Some(p) => p.chars().take(40).collect(),
        None => device_persona(&sb, &headers)
            .map(|p| p.phone_number.clone())
            .unwrap_or_default(),
    };
    let number = crate::personas::normalize_phone(&typed);
    let mut rows = Vec::new();
    let mut error = None;
    match &number {
        Some(n) => {
            for a in sb.store.list_sandbox_inbox(n, sb.clock.now()).await? {
                let details: Value = serde_json::from_str(&a.claims).unwrap_or_default();
                rows.push(InboxRow {
                    from: tr.t_with("inbox-from", &[("client", requester(&a))]),
                    binding_message: details
                        .get("binding_message")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    link: sb.path(&format!("/app/actions/{}", a.id)),
                });
            }
        }
        None if !typed.is_empty() => error = Some(tr.t("phone-invalid")),
        None => {}
    }
    Ok(html(
        StatusCode::OK,
        &InboxPage {
            tr: &tr,
            action: sb.path("/app/inbox"),
            phone: number.clone().unwrap_or(typed),
            shown: number.is_some(),
            rows,
            error,
        },
    ))
}

/// How often a client may poll a user discovery session, to begin with (itsme: 5 s).
const DISCOVERY_INTERVAL: i64 = 5;
/// How long a user discovery session answers (itsme: poll for 10 minutes, a 400 after 15).
const DISCOVERY_LIFETIME: i64 = 15 * 60;
/// How long one QR code can be scanned (it changes at every poll).
const QR_LIFETIME: i64 = 30;

/// The answer of a session still waiting for a scan: a fresh QR code at every poll (itsme's is
/// dynamic), as a base64 image — an SVG here, where itsme sends a JPEG — and, as the sandbox's
/// own extension, the URL the QR encodes (`sandbox_scan_url`), so that a test can "scan" it
/// without a camera.
fn pending_discovery(sb: &Sandbox, id: &str, now: i64) -> Result<Value, Failure> {
    let mac: String = sb
        .hmac("qr", &[id, &now.to_string()])?
        .chars()
        .take(22)
        .collect();
    let url = format!("{}/app/discover/{id}?t={now}&c={mac}", sb.issuer);
    let svg = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| Failure::Internal(format!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    let expires_at = time::OffsetDateTime::from_unix_timestamp(now + QR_LIFETIME)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    Ok(json!({
        "user_discovery_session_id": id,
        "status": "PENDING_USER_DISCOVERY",
        "user_discovery_token": {
            "qr_code": base64::engine::general_purpose::STANDARD.encode(svg.as_bytes()),
            "expires_at": expires_at,
        },
        "sandbox_scan_url": url,
    }))
}

/// The single-use user_identifier_token of a discovered session: derived from its id, so that
/// every poll can give it again while only its SHA-256 is stored.
fn user_identifier_token(sb: &Sandbox, id: &str) -> Result<String, Failure> {
    sb.hmac("user-identifier-token", &[id])
}

fn no_store(body: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// `POST /user_discovery_sessions`: a client (private_key_jwt only) opens a session whose QR a
/// person scans with the app.
pub(super) async fn create_discovery(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    body: Bytes,
) -> Reply {
    let now = sb.clock.now();
    // One signature to verify, as at the token endpoint: the same limit.
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let form = parse_pairs(&body).map_err(|e| bad("invalid_request", e.to_string()))?;
    let client = authenticate_client(&sb, &form, now)
        .await
        .map_err(as_decoupled)?;
    let id = random_token(18);
    sb.store
        .insert_discovery_session(&passerelle_store::DiscoverySession {
            id: id.clone(),
            client_id: client.client_id.clone(),
            status: passerelle_store::DiscoveryStatus::Pending,
            phone_number: None,
            poll_interval: DISCOVERY_INTERVAL,
            created_at: now,
            expires_at: now + DISCOVERY_LIFETIME,
        })
        .await?;
    tracing::info!(sandbox.client = %client.client_id, "sandbox user discovery session opened");
    Ok(no_store(pending_discovery(&sb, &id, now)?))
}

/// `POST /user_discovery_sessions/{id}`: the client's poll — a fresh QR while nobody scanned,
/// then `USER_DISCOVERED` with the user_identifier_token; faster than the interval is a 429.
pub(super) async fn poll_discovery(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let form = parse_pairs(&body).map_err(|e| bad("invalid_request", e.to_string()))?;
    let client = authenticate_client(&sb, &form, now)
        .await
        .map_err(as_decoupled)?;
    let session = sb
        .store
        .find_discovery_session(&id, now)
        .await?
        .filter(|s| s.client_id == client.client_id)
        .ok_or_else(|| {
            bad(
                "invalid_request",
                "the user discovery session is unknown or has expired",
            )
        })?;
    if let SandboxPace::TooFast { interval } = sb.store.pace_discovery_poll(&id, now).await? {
        return Err(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            format!("poll at most every {interval} seconds"),
        ));
    }
    match session.status {
        passerelle_store::DiscoveryStatus::Pending => {
            Ok(no_store(pending_discovery(&sb, &id, now)?))
        }
        passerelle_store::DiscoveryStatus::Discovered | passerelle_store::DiscoveryStatus::Used => {
            Ok(no_store(json!({
                "user_discovery_session_id": id,
                "status": "USER_DISCOVERED",
                "user_identifier_token": user_identifier_token(&sb, &id)?,
            })))
        }
    }
}

/// The QR's target: the emulated app of the person who scans it, who says which sandbox
/// account they are (their phone number). `t` and `c` are the QR's time and MAC: a QR is good
/// for 30 s.
pub(super) async fn discover_page(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    method: axum::http::Method,
    body: Bytes,
) -> Reply {
    let tr = translator(None, &headers);
    let now = sb.clock.now();
    let params = parse_pairs(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let t = params.get("t").unwrap_or_default();
    let valid_qr = t
        .parse::<i64>()
        .is_ok_and(|t| t <= now && now < t + QR_LIFETIME)
        && sb.hmac("qr", &[&id, t]).is_ok_and(|mac| {
            let mac: String = mac.chars().take(22).collect();
            bool::from(
                mac.as_bytes()
                    .ct_eq(params.get("c").unwrap_or_default().as_bytes()),
            )
        });
    let session = sb.store.find_discovery_session(&id, now).await?;
    let waiting = session
        .as_ref()
        .is_some_and(|s| s.status == passerelle_store::DiscoveryStatus::Pending);
    if !valid_qr || !waiting {
        return Err(Failure::page(&tr, tr.t("discover-expired")));
    }
    let action = sb.path(&format!(
        "/app/discover/{id}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("t", t)
            .append_pair("c", params.get("c").unwrap_or_default())
            .finish()
    ));
    let page = |phone: String, error: Option<String>, done: Option<String>| {
        html(
            if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
            &DiscoverPage {
                tr: &tr,
                action: action.clone(),
                phone,
                error,
                done,
            },
        )
    };
    if method != axum::http::Method::POST {
        return Ok(page(String::new(), None, None));
    }
    sb.limits
        .app_code_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, Some(&tr)))?;
    let form = parse_pairs(&body).unwrap_or_default();
    let typed: String = form
        .get("phone")
        .unwrap_or_default()
        .chars()
        .take(40)
        .collect();
    let Some(number) = crate::personas::normalize_phone(&typed) else {
        return Ok(page(typed, Some(tr.t("phone-invalid")), None));
    };
    if sb.personas.find(&number).is_none() {
        return Ok(page(typed, Some(tr.t("phone-unknown")), None));
    }
    let token = user_identifier_token(&sb, &id)?;
    if !sb
        .store
        .discover_user(&id, &number, &token_hash(&token), now)
        .await?
    {
        return Err(Failure::page(&tr, tr.t("discover-expired")));
    }
    tracing::info!(sandbox.session = %&id[..8], "sandbox user discovered by a scan");
    Ok(page(String::new(), None, Some(tr.t("discover-done"))))
}
