//! The emulated itsme app: what an action asks for, and the person's code or refusal.

use super::*;

/// The label and value of each piece of data the action asks for, as the app shows them.
pub(super) fn requested_items(
    tr: &Translator,
    persona: &Persona,
    action: &SandboxAction,
) -> Vec<(String, String)> {
    let details: Value = serde_json::from_str(&action.claims).unwrap_or_default();
    let mut names = claim_names_list(&details, "id_token");
    names.extend(claim_names_list(&details, "userinfo"));
    let values = persona.claims_for(&names);
    let mut items: Vec<(String, String)> = Vec::new();
    for name in &names {
        let key = match name.trim_start_matches(passerelle_itsme::claims::PREFIX) {
            "email_verified" | "phone_number_verified" => continue,
            "IDDocumentSN" | "IDDocumentType" => "attr-document",
            "BENationalNumber" => "attr-national_number",
            "BEeidSn" => "attr-eid_card_number",
            "IDIssuingCountry" => "attr-issuing_country",
            "validityFrom" | "validityTo" => "attr-validity",
            "issuance_locality" => "attr-issuance_locality",
            "verificationDate" => "attr-read_date",
            "claim_citizenship" | "claim_citizenship_as_iso" => "attr-nationality",
            "physical_person_photo" | "picture" => "attr-photo",
            other => match other {
                "name"
                | "given_name"
                | "family_name"
                | "gender"
                | "birthdate"
                | "locale"
                | "email"
                | "phone_number"
                | "address"
                | "place_of_birth"
                | "birthdate_as_string"
                | "official_gender" => "",
                _ => continue,
            },
        };
        let key = if key.is_empty() {
            format!(
                "attr-{}",
                name.trim_start_matches(passerelle_itsme::claims::PREFIX)
            )
        } else {
            key.to_string()
        };
        let label = tr.t(&key);
        let value = match values.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("formatted")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    o.values()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
            Some(other) => other.to_string(),
            None => "—".to_string(),
        };
        match items.iter_mut().find(|(l, _)| *l == label) {
            Some((_, v)) => {
                if value != "—" && !v.contains(&value) {
                    if v == "—" {
                        *v = value
                    } else {
                        v.push_str(", ");
                        v.push_str(&value)
                    }
                }
            }
            None => items.push((label, value)),
        }
    }
    items
}

pub(super) fn claim_names_list(details: &Value, member: &str) -> Vec<String> {
    details
        .get(member)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn app_page(
    State(sb): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let tr = translator(None, &headers);
    let action = live_action(&sb, &tr, &id).await?;
    let (action, _) = apply(&sb, action, ActionEvent::Observed, None).await?;
    render_app(&sb, &headers, &action, None).await
}

pub(super) async fn render_app(
    sb: &Sandbox,
    headers: &HeaderMap,
    action: &SandboxAction,
    error: Option<String>,
) -> Reply {
    let tr = translator(action.ui_locales.as_deref(), headers);
    let state = action.status;
    let persona = sb.persona_of(action);
    let account = action
        .phone_number
        .as_deref()
        .map(|p| tr.t_with("app-for", &[("phone", p.to_string())]))
        .unwrap_or_default();
    let (done, approved) = match state {
        ActionState::AwaitingPhone => (Some(tr.t("app-pending-none")), false),
        ActionState::AwaitingApp { .. } => (None, false),
        // A decoupled request has no browser waiting: the service that asked gets the answer.
        ActionState::Approved | ActionState::Redeemed if action.is_decoupled() => {
            (Some(tr.t("app-approved-decoupled")), true)
        }
        ActionState::Approved | ActionState::Redeemed => (Some(tr.t("app-approved")), true),
        ActionState::Rejected(Rejection::Refused | Rejection::Cancelled) => {
            (Some(tr.t("app-refused")), false)
        }
        ActionState::Rejected(Rejection::TimedOut) => (Some(tr.t("app-timed-out")), false),
        ActionState::Rejected(Rejection::WrongCode) => (Some(tr.t("app-blocked")), false),
    };
    let who = requester(action);
    let dance = Dance::parse(&action.service);
    let asks = match dance {
        Some(Dance::Service) => tr.t_with("csc-app-asks-service", &[("client", who)]),
        Some(Dance::Credential) => tr.t_with("csc-app-asks-credential", &[("client", who)]),
        None if action.service == Service::Authentication.as_str() => {
            tr.t_with("app-asks-authentication", &[("client", who)])
        }
        None => tr.t_with("app-asks-identification", &[("client", who)]),
    };
    let signing = match dance {
        Some(d) if !state.is_decided() => Some(signing_view(sb, &tr, action, d).await?),
        _ => None,
    };
    let items = persona
        .map(|p| requested_items(&tr, p, action))
        .unwrap_or_default();
    let mode = Mode::of(action);
    // On the same phone, the app sends the person back to the browser once decided (itsme opens
    // the redirect URI); on a second device there is nowhere to go back to.
    let return_url = (mode == Mode::SameDevice && state.is_decided())
        .then(|| sb.path(&format!("/actions/{}/wait", action.id)));
    let back = match mode {
        Mode::SameDevice => format!("/app/actions/{}/open", action.id),
        Mode::Desktop => format!("/app/actions/{}", action.id),
    };
    let change = device_persona(sb, headers).map(|_| {
        let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        sb.path(&format!("/app/device?next={next}"))
    });
    let binding_message = serde_json::from_str::<Value>(&action.claims)
        .ok()
        .and_then(|d| {
            d.get("binding_message")
                .and_then(Value::as_str)
                .map(|m| tr.t_with("app-binding-message", &[("message", m.to_string())]))
        });
    Ok(html(
        StatusCode::OK,
        &AppPage {
            tr: &tr,
            account,
            asks,
            items,
            action: sb.path(&format!("/app/actions/{}", action.id)),
            error,
            done,
            approved,
            change,
            return_label: tr.t_with("app-return", &[("client", requester(action))]),
            return_url,
            biometrics: acr_of(action) == Acr::Basic,
            icon: (mode == Mode::Desktop && !action.is_decoupled())
                .then(|| icon(sb, &tr, action, "app-icon"))
                .flatten(),
            binding_message,
            signing,
        },
    ))
}

/// What the app shows of a signing request: the first service authorization announces the
/// certificate it creates (itsme's CREATE_CERT); a credential authorization shows its
/// description and how many documents it signs.
async fn signing_view(
    sb: &Sandbox,
    tr: &Translator,
    action: &SandboxAction,
    dance: Dance,
) -> Result<SigningView, Failure> {
    Ok(match dance {
        Dance::Service => {
            let has_credential = match &action.phone_number {
                Some(phone) => sb
                    .store
                    .find_signing_credential(phone, sb.clock.now())
                    .await?
                    .is_some(),
                None => false,
            };
            SigningView {
                note: Some(if has_credential {
                    tr.t("csc-app-service-known")
                } else {
                    tr.t("csc-app-create-cert")
                }),
                description: None,
                documents: None,
            }
        }
        Dance::Credential => {
            let details: Value = serde_json::from_str(&action.claims).unwrap_or_default();
            let count = details
                .get("hashes")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            SigningView {
                note: None,
                description: detail(action, "description").filter(|d| !d.is_empty()),
                documents: Some(tr.t_count(
                    "csc-app-documents",
                    "count",
                    i64::try_from(count).unwrap_or(i64::MAX),
                )),
            }
        }
    })
}

pub(super) async fn app_submit(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let tr = translator(None, &headers);
    sb.limits
        .app_code_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, Some(&tr)))?;
    let action = live_action(&sb, &tr, &id).await?;
    let form = parse_pairs(&body).unwrap_or_default();
    let decision = form.get("decision");
    let biometrics = match decision {
        Some("fingerprint") => Some(Method::Fingerprint),
        Some("face") => Some(Method::Face),
        Some("refuse" | "approve") => None,
        _ => return render_app(&sb, &headers, &action, None).await,
    };
    // A deadline that passed takes effect first, so a late code meets a timed-out action.
    let (action, _) = apply(&sb, action, ActionEvent::Observed, None).await?;
    if decision == Some("refuse") {
        let (action, _) = apply(&sb, action, ActionEvent::RefusePressed, None).await?;
        return render_app(&sb, &headers, &action, None).await;
    }
    if let Some(method) = biometrics {
        // The phone checked the person's fingerprint or face: enough for acr_basic only.
        let allowed = acr_of(&action) == Acr::Basic;
        let event = ActionEvent::BiometricsConfirmed { method, allowed };
        let (action, moved) = apply(&sb, action, event, None).await?;
        let error = match moved {
            Err(flow::FlowError::CodeRequired) => {
                let tr = translator(action.ui_locales.as_deref(), &headers);
                Some(tr.t("app-code-required"))
            }
            _ => None,
        };
        return render_app(&sb, &headers, &action, error).await;
    }
    // A code is checked only for an action the app still shows, against the person's account:
    // three wrong codes in a row block the account (not just this action), counted in the
    // database across actions, nodes and restarts, each attempt exactly once.
    let (ActionState::AwaitingApp { .. }, Some(persona)) = (action.status, sb.persona_of(&action))
    else {
        return render_app(&sb, &headers, &action, None).await;
    };
    let typed = form.get("code").unwrap_or_default().as_bytes();
    let correct = !persona.code.is_empty() && bool::from(typed.ct_eq(persona.code.as_bytes()));
    let now = sb.clock.now();
    // The transitions `flow::advance` gives for `CodeEntered` and `AccountBlocked`, made by the
    // store in one transaction with the account's count (see `Store::sandbox_code_attempt`).
    let code_hash = token_hash(&sb.code_for(&action.id)?);
    let deadline = now + CODE_LIFETIME;
    let attempt = sb
        .store
        .sandbox_code_attempt(
            &action.id,
            &persona.phone_number,
            correct,
            now,
            i64::from(flow::MAX_CODE_ATTEMPTS),
            sb.blocked_until(now),
            Approval {
                code_hash: &code_hash,
                deadline,
                expires_at: action.expires_at.max(deadline + 60),
            },
            passerelle_store::audit_subject(&sb.audit_secret, "phone", &persona.phone_number),
        )
        .await?;
    if matches!(attempt, CodeAttempt::Accepted | CodeAttempt::Blocked) {
        tracing::info!(sandbox.action = %&action.id[..8], sandbox.approved = attempt == CodeAttempt::Accepted, "sandbox action decided in the app");
        sb.wake(&action.id);
        if let Err(e) = sb.store.notify(crate::ACTION_CHANNEL, &action.id).await {
            tracing::warn!(error = %e, "cannot announce a decided action to other nodes");
        }
    }
    let action = live_action(&sb, &tr, &id).await?;
    // A blocked account answers the same, whether the code typed was right or wrong.
    let error = match (attempt, action.status) {
        (CodeAttempt::Wrong { failures }, ActionState::AwaitingApp { .. }) => {
            let left = i64::from(flow::MAX_CODE_ATTEMPTS).saturating_sub(failures);
            Some(translator(action.ui_locales.as_deref(), &headers).t_count(
                "app-wrong-code",
                "left",
                left,
            ))
        }
        _ => None,
    };
    render_app(&sb, &headers, &action, error).await
}
