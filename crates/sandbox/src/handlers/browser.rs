//! The pages a person's browser opens at the scheme: the authorization endpoint (a signed then
//! encrypted request object becomes an action and its phone page), the test people, the phone
//! number, cancel, and the waiting page that sends the browser back to the client.

use super::*;

/// The test people, for a person at the phone page (what `passerelle sandbox personas` prints).
pub(super) async fn personas_page(State(sb): Shared, headers: HeaderMap) -> Response {
    let tr = translator(None, &headers);
    let rows = sb
        .personas
        .all()
        .iter()
        .map(|p| PersonaRow {
            phone: p.phone_number.clone(),
            country: p.country(),
            behaviour: p.behaviour().as_str(),
            code: p.code.clone(),
            name: match &p.given_name {
                Some(g) => format!("{g} {}", p.family_name),
                None => p.family_name.clone(),
            },
            label: p.label.clone(),
        })
        .collect();
    html(StatusCode::OK, &PersonasPage { tr: &tr, rows })
}

/// Decrypts and verifies a request object (signed then encrypted, itsme `authorization_request.md`).
pub(super) fn open_request_object(
    sb: &Sandbox,
    client: &SandboxClient,
    jwe: &str,
    now: i64,
) -> Result<Claims, String> {
    let plain = passerelle_jose::decrypt(jwe, &[&sb.decryption])
        .map_err(|e| format!("the request object cannot be decrypted: {e}"))?;
    let jws = String::from_utf8(plain).map_err(|_| "the request object is not text".to_string())?;
    let claims = client
        .keys
        .get()
        .verify(&jws, &[SigAlg::Rs256])
        .map_err(|e| format!("the request object's signature: {e}"))?;
    // itsme's current docs say the issuer; its 2022 docs said the authorization endpoint.
    let authorization_endpoint = format!("{}/authorization", sb.issuer);
    let check = passerelle_jose::ClaimsCheck {
        issuer: Some(&client.client_id),
        audience: passerelle_jose::Audience::OneOf(&[&sb.issuer, &authorization_endpoint]),
        now,
        max_lifetime: Some(3600),
        expiry_skew: 0,
        future_skew: 60,
    };
    check.check(&claims).map_err(|problem| {
        use passerelle_jose::ClaimsProblem as P;
        match problem {
            P::Issuer => "the request object's iss must be the client_id".to_string(),
            P::Audience => {
                "the request object's aud must be the sandbox's issuer, as a single string".into()
            }
            P::NoExpiry => "the request object has no exp".into(),
            P::Expired => "the request object has expired".into(),
            P::LivesTooLong => "the request object lives for more than an hour".into(),
            P::InTheFuture(member) => format!("the request object's {member} is in the future"),
        }
    })?;
    if claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err("the request object's client_id must be the client's".into());
    }
    Ok(claims)
}

pub(super) fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error)
            .append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    found(url.as_str())
}

/// A 302 to the client, as itsme answers.
pub(super) fn found(url: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// The claim names listed under `member` of a `claims` request.
pub(super) fn claim_names(claims: &Value, member: &str) -> Vec<String> {
    claims
        .get(member)
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

pub(super) async fn authorization(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let default_tr = translator(None, &headers);
    // Before anything else: each request costs an RSA decryption.
    sb.limits
        .sandbox_authorization_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, Some(&default_tr)))?;
    let params = parse_pairs(query.unwrap_or_default().as_bytes()).map_err(|e| {
        Failure::page(
            &default_tr,
            default_tr.t_with(e.key(), &[("name", e.name())]),
        )
    })?;
    let tr = translator(params.get("ui_locales"), &headers);
    let client_id = params
        .get("client_id")
        .ok_or_else(|| Failure::page(&tr, tr.t("error-missing-client-id")))?;
    let client = sb
        .client(client_id)
        .ok_or_else(|| Failure::page(&tr, tr.t("sandbox-error-unknown-client")))?;
    let now = sb.clock.now();
    // Like itsme, the sandbox takes its parameters only from a request object that the client
    // signed and then encrypted to the sandbox (RFC 9101 §6.3: nothing outside it is used), so
    // that everything it shows the person — the requester's name above all — is what that
    // client vouched for, never words from the URL.
    if params.get("request_uri").is_some() {
        return Err(Failure::page(
            &tr,
            tr.t_with(
                "sandbox-error-request-object",
                &[("detail", "request_uri is not supported".to_string())],
            ),
        ));
    }
    let Some(jwe) = params.get("request") else {
        return Err(Failure::page(
            &tr,
            tr.t("sandbox-error-request-object-required"),
        ));
    };
    let object = open_request_object(&sb, client, jwe, now).map_err(|detail| {
        Failure::page(
            &tr,
            tr.t_with("sandbox-error-request-object", &[("detail", detail)]),
        )
    })?;
    // What the URL repeats beside the object must agree with it.
    for k in ["client_id", "response_type", "scope"] {
        if let Some(outer) = params.get(k)
            && object.get(k).and_then(Value::as_str) != Some(outer)
        {
            return Err(Failure::page(
                &tr,
                tr.t_with(
                    "sandbox-error-request-object-mismatch",
                    &[("name", k.to_string())],
                ),
            ));
        }
    }
    let p: Map<String, Value> = object;
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let redirect_uri = text("redirect_uri")
        .ok_or_else(|| Failure::page(&tr, tr.t("error-missing-redirect-uri")))?;
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(Failure::page(&tr, tr.t("error-unregistered-redirect-uri")));
    }
    let state = text("state");
    let fail = |error: &str, description: &str| {
        Ok(error_redirect(
            &redirect_uri,
            state.as_deref(),
            error,
            description,
        ))
    };
    if text("response_type").as_deref() != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    let code_challenge = text("code_challenge");
    if code_challenge.is_some() && text("code_challenge_method").as_deref() != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let (service, mut details) = match request_details(client, &p) {
        Ok(r) => r,
        Err((error, description)) => return fail(error, description),
    };
    // itsme's default lets the person choose biometrics; acr_advanced demands the code.
    let acr = match text("acr_values") {
        Some(v)
            if v.split(' ')
                .any(|x| Acr::from_uri(x) == Some(Acr::Advanced)) =>
        {
            Acr::Advanced
        }
        _ => Acr::Basic,
    };
    let mode = Mode::for_request(&headers, text("display").as_deref());
    details["acr"] = json!(acr.as_str());
    details["mode"] = json!(mode.as_str());
    let login_hint = text("login_hint").filter(|h| h.len() <= 32);
    let action = SandboxAction {
        id: random_token(18),
        client_id: client.client_id.clone(),
        redirect_uri,
        state,
        nonce: text("nonce"),
        service: service.as_str().into(),
        claims: details.to_string(),
        code_challenge,
        ui_locales: text("ui_locales").filter(|s| s.len() <= 64),
        login_hint,
        phone_number: None,
        status: ActionState::AwaitingPhone,
        deadline: None,
        code_hash: None,
        approved_with: None,
        created_at: now,
        expires_at: now + ACTION_LIFETIME,
        poll_interval: None,
    };
    let tr = translator(action.ui_locales.as_deref(), &headers);
    // A request object makes one action, whatever the number of times it is presented: a reload
    // of the phone page shows the same action; anything later (a replay) gets nothing.
    match sb.store.insert_sandbox_action(&action, now).await? {
        NewAction::Inserted => {}
        NewAction::Exists(existing) if existing.status == ActionState::AwaitingPhone => {
            return landing(&sb, &tr, &existing, String::new());
        }
        NewAction::Exists(_) | NewAction::Expired => {
            tracing::info!("a sandbox authorization request was presented again");
            return Err(Failure::page(&tr, tr.t("sandbox-error-request-used")));
        }
    }
    tracing::info!(sandbox.action = %&action.id[..8], sandbox.client = %action.client_id, sandbox.service = %action.service, "sandbox authorization started");
    // itsme's old login_hint format was `32+470000001`.
    let prefill = action
        .login_hint
        .as_deref()
        .map(|h| h.replace('+', ""))
        .map(|h| format!("+{h}"))
        .and_then(|h| crate::personas::normalize_phone(&h))
        .unwrap_or_default();
    landing(&sb, &tr, &action, prefill)
}

/// Where a new action starts: the phone-number form (and its QR code) on a desktop, the "Open
/// itsme" link on a phone.
pub(super) fn landing(
    sb: &Sandbox,
    tr: &Translator,
    action: &SandboxAction,
    prefill: String,
) -> Reply {
    match Mode::of(action) {
        Mode::Desktop => Ok(phone_page(sb, tr, action, prefill, None, StatusCode::OK)),
        Mode::SameDevice => Ok(open_page(sb, tr, action)),
    }
}

/// "Open itsme": a link (a universal link opens an app only on a tap) into the app on this
/// phone, and a page that moves on by itself once the app has answered — here or in another
/// browser.
pub(super) fn open_page(sb: &Sandbox, tr: &Translator, action: &SandboxAction) -> Response {
    html(
        StatusCode::OK,
        &OpenPage {
            tr,
            intro: match Dance::parse(&action.service) {
                None => tr.t_with("open-intro", &[("client", requester(action))]),
                Some(Dance::Service) => {
                    tr.t_with("csc-open-intro-service", &[("client", requester(action))])
                }
                Some(Dance::Credential) => tr.t_with(
                    "csc-open-intro-credential",
                    &[("client", requester(action))],
                ),
            },
            open_url: sb.path(&format!("/app/actions/{}/open", action.id)),
            poll_url: sb.path(&format!("/actions/{}/wait?poll=1", action.id)),
            cancel: sb.path(&format!("/actions/{}/cancel", action.id)),
            watch: watch(sb, &action.id, "decided"),
        },
    )
}

/// What a waiting page's script watches: the action's status, until `until` (`moved` or
/// `decided`), then the waiting page, which sends the browser on.
fn watch(sb: &Sandbox, id: &str, until: &'static str) -> Watch {
    Watch {
        status: sb.path(&format!("/actions/{id}/status")),
        next: sb.path(&format!("/actions/{id}/wait")),
        until,
        script: sb.path("/assets/wait.js"),
    }
}

/// The service and the details an action keeps (claims asked for in the ID token and at
/// userinfo, the requester's name) from a request object's `scope`, `claims` and
/// `passerelle_client_name`; or the OAuth error and description that refuse it. Shared by the
/// authorization endpoint and the backchannel endpoint.
pub(super) fn request_details(
    client: &SandboxClient,
    p: &Map<String, Value>,
) -> Result<(Service, Value), (&'static str, &'static str)> {
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let scope = text("scope").unwrap_or_default();
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if !scopes.contains(&"openid") {
        return Err(("invalid_scope", "scope must contain openid"));
    }
    let Some(service) = scopes
        .iter()
        .filter_map(|s| s.strip_prefix("service:"))
        .find_map(|code| {
            client
                .services
                .iter()
                .find(|(c, _)| c == code)
                .map(|(_, s)| *s)
        })
    else {
        return Err((
            "invalid_scope",
            "scope must contain service:<SERVICE_CODE> with a service code registered for this client",
        ));
    };
    let claims_request = match p.get("claims") {
        None => json!({}),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(("invalid_request", "claims must be a JSON object")),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(("invalid_request", "claims must be a JSON object")),
    };
    let id_token_claims = claim_names(&claims_request, "id_token");
    let mut userinfo_claims = claim_names(&claims_request, "userinfo");
    for s in &scopes {
        let extra: &[&str] = match *s {
            "profile" => &[
                "family_name",
                "given_name",
                "name",
                "gender",
                "locale",
                "birthdate",
            ],
            "email" => &["email", "email_verified"],
            "address" => &["address"],
            "phone" => &["phone_number", "phone_number_verified"],
            "idDocument" => &[
                uri::ID_DOCUMENT_SN,
                uri::ID_DOCUMENT_TYPE,
                uri::ID_ISSUING_COUNTRY,
                uri::VALIDITY_FROM,
                uri::VALIDITY_TO,
            ],
            "eid" => &[uri::BE_NATIONAL_NUMBER, uri::BE_EID_SN],
            _ => &[],
        };
        for c in extra {
            if !userinfo_claims.iter().any(|x| x == c) {
                userinfo_claims.push(c.to_string());
            }
        }
    }
    if service == Service::Identification
        && id_token_claims.is_empty()
        && userinfo_claims.is_empty()
    {
        return Err((
            "invalid_request",
            "an Identification must ask for at least one claim",
        ));
    }
    let requester = text("passerelle_client_name")
        .filter(|n| !n.is_empty() && n.len() <= 100)
        .unwrap_or_else(|| client.name.clone());
    let details =
        json!({ "id_token": id_token_claims, "userinfo": userinfo_claims, "requester": requester });
    Ok((service, details))
}

pub(super) fn requester(action: &SandboxAction) -> String {
    serde_json::from_str::<Value>(&action.claims)
        .ok()
        .and_then(|v| {
            v.get("requester")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

pub(super) fn phone_page(
    sb: &Sandbox,
    tr: &Translator,
    action: &SandboxAction,
    phone: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    html(
        status,
        &PhonePage {
            tr,
            intro: if Dance::parse(&action.service).is_some() {
                tr.t_with("csc-phone-intro", &[("client", requester(action))])
            } else {
                tr.t_with("phone-intro", &[("client", requester(action))])
            },
            action: sb.path(&format!("/actions/{}/phone", action.id)),
            cancel: sb.path(&format!("/actions/{}/cancel", action.id)),
            personas: sb.path("/personas"),
            phone,
            error,
            qr: sb
                .qr_link(&action.id, sb.clock.now())
                .ok()
                .map(|scan| QrBox {
                    image: sb.path(&format!("/actions/{}/qr", action.id)),
                    status: sb.path(&format!("/actions/{}/status", action.id)),
                    next: sb.path(&format!("/actions/{}/wait", action.id)),
                    wait: sb.path(&format!("/actions/{}/wait?scan=1", action.id)),
                    scan,
                    script: sb.path("/assets/wait.js"),
                }),
        },
    )
}

/// The icon the person matches in the app, in the page's language.
pub(super) fn icon(
    sb: &Sandbox,
    tr: &Translator,
    action: &SandboxAction,
    key: &str,
) -> Option<Icon> {
    let (symbol, name_key) = icon_of(sb, action).ok()?;
    let name = tr.t(name_key);
    Some(Icon {
        symbol,
        sentence: tr.t_with(key, &[("icon", name.clone())]),
        name,
    })
}

/// A live action of the redirect flow: a decoupled action has no browser, so the phone page,
/// cancel and the waiting page do not know it.
async fn browser_action(sb: &Sandbox, tr: &Translator, id: &str) -> Result<SandboxAction, Failure> {
    let action = live_action(sb, tr, id).await?;
    if action.is_decoupled() {
        return Err(Failure::Page {
            status: StatusCode::NOT_FOUND,
            tr: tr.clone(),
            message: tr.t("broker-error-expired"),
        });
    }
    Ok(action)
}

pub(super) async fn live_action(
    sb: &Sandbox,
    tr: &Translator,
    id: &str,
) -> Result<SandboxAction, Failure> {
    sb.store
        .find_sandbox_action(id, sb.clock.now())
        .await?
        .ok_or_else(|| Failure::Page {
            status: StatusCode::NOT_FOUND,
            tr: tr.clone(),
            message: tr.t("broker-error-expired"),
        })
}

pub(super) async fn phone(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let tr = translator(None, &headers);
    sb.limits
        .phone_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, Some(&tr)))?;
    let action = browser_action(&sb, &tr, &id).await?;
    let tr = translator(action.ui_locales.as_deref(), &headers);
    if action.status != ActionState::AwaitingPhone {
        return Ok(Redirect::to(&sb.path(&format!("/actions/{id}/wait"))).into_response());
    }
    let form = parse_pairs(&body).unwrap_or_default();
    let typed = form
        .get("phone")
        .unwrap_or_default()
        .chars()
        .take(40)
        .collect::<String>();
    let Some(number) = crate::personas::normalize_phone(&typed) else {
        return Ok(phone_page(
            &sb,
            &tr,
            &action,
            typed,
            Some(tr.t("phone-invalid")),
            StatusCode::BAD_REQUEST,
        ));
    };
    let Some(persona) = sb.personas.find(&number) else {
        return Ok(phone_page(
            &sb,
            &tr,
            &action,
            typed,
            Some(tr.t("phone-unknown")),
            StatusCode::BAD_REQUEST,
        ));
    };
    let event = persona_event(&sb, persona).await?;
    let _ = apply(&sb, action, event, Some(number)).await?;
    Ok(Redirect::to(&sb.path(&format!("/actions/{id}/wait"))).into_response())
}

pub(super) async fn cancel(State(sb): Shared, Path(id): Path<String>, headers: HeaderMap) -> Reply {
    let tr = translator(None, &headers);
    let action = browser_action(&sb, &tr, &id).await?;
    let (action, _) = apply(&sb, action, ActionEvent::CancelPressed, None).await?;
    let state = action.status;
    finish(&sb, &tr, &action, state)
}

/// The `state` to send back with the answer: the client's. An action of the signing service
/// keeps it in its details (its `state` column makes each account_token one action, see
/// `csc::authorize`).
fn redirect_state(action: &SandboxAction) -> Option<String> {
    match Dance::parse(&action.service) {
        Some(_) => detail(action, "state"),
        None => action.state.clone(),
    }
}

/// Sends the browser back to the client once the action is decided.
pub(super) fn finish(
    sb: &Sandbox,
    tr: &Translator,
    action: &SandboxAction,
    state: ActionState,
) -> Reply {
    let client_state = redirect_state(action);
    match state {
        ActionState::Approved => {
            let mut url = url::Url::parse(&action.redirect_uri)
                .map_err(|e| Failure::Internal(e.to_string()))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("code", &sb.code_for(&action.id)?);
                if let Some(s) = &client_state {
                    q.append_pair("state", s);
                }
            }
            Ok(found(url.as_str()))
        }
        ActionState::Rejected(r) => Ok(error_redirect(
            &action.redirect_uri,
            client_state.as_deref(),
            "access_denied",
            r.description(),
        )),
        // The answer already went back, through another browser or tab (a return from the app
        // that lost the race with the waiting tab): nothing is wrong, and nothing more to do.
        ActionState::Redeemed => Ok(html(StatusCode::OK, &crate::pages::DonePage { tr })),
        _ => Err(Failure::Page {
            status: StatusCode::GONE,
            tr: tr.clone(),
            message: tr.t("app-finished"),
        }),
    }
}

pub(super) async fn wait(
    State(sb): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let flag = |name: &str| {
        query
            .as_deref()
            .is_some_and(|q| q.split('&').any(|p| p == name))
    };
    let poll = flag("poll=1");
    // The waiting page of a QR code that has not been scanned yet (the desktop path without
    // JavaScript).
    let scan = flag("scan=1");
    let started = Instant::now();
    let tr = translator(None, &headers);
    loop {
        let action = browser_action(&sb, &tr, &id).await?;
        let tr = translator(action.ui_locales.as_deref(), &headers);
        let (action, _) = apply(&sb, action, ActionEvent::Observed, None).await?;
        let state = action.status;
        if state.is_decided() {
            return finish(&sb, &tr, &action, state);
        }
        let mode = Mode::of(&action);
        let waiting_for_phone = state == ActionState::AwaitingPhone;
        if waiting_for_phone && mode == Mode::Desktop && !scan {
            return Ok(phone_page(
                &sb,
                &tr,
                &action,
                String::new(),
                None,
                StatusCode::OK,
            ));
        }
        let elapsed = started.elapsed();
        if !poll || elapsed >= LONG_POLL {
            // Without JavaScript the page refreshes at once (`0;url=`): the poll request itself
            // is what waits. A delayed refresh is a time limit the person does not control
            // (WCAG 2.2.1). With JavaScript, the page's script waits instead (`Watch`).
            if mode == Mode::SameDevice {
                return Ok(open_page(&sb, &tr, &action));
            }
            let page = if waiting_for_phone {
                WaitPage {
                    tr: &tr,
                    intro: tr.t("qr-wait-intro"),
                    poll_url: sb.path(&format!("/actions/{id}/wait?poll=1&scan=1")),
                    app_url: sb.qr_link(&id, sb.clock.now())?,
                    watch: watch(&sb, &id, "moved"),
                    icon: None,
                    qr: Some(sb.path(&format!("/actions/{id}/qr"))),
                }
            } else {
                let phone = action.phone_number.clone().unwrap_or_default();
                WaitPage {
                    tr: &tr,
                    intro: tr.t_with("wait-intro", &[("phone", phone)]),
                    poll_url: sb.path(&format!("/actions/{id}/wait?poll=1")),
                    app_url: sb.path(&format!("/app/actions/{id}")),
                    watch: watch(&sb, &id, "decided"),
                    icon: icon(&sb, &tr, &action, "wait-icon"),
                    qr: None,
                }
            };
            return Ok(html(StatusCode::OK, &page));
        }
        // Wake up when the app acts on this node, or re-read within a second (other nodes, and
        // the deadline, which is checked against the clock when the action is read).
        sb.waiters
            .wait(&id, Duration::from_secs(1).min(LONG_POLL - elapsed))
            .await;
    }
}
