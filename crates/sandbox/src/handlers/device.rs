//! The emulated phone itself: which test person it belongs to, and the two ways an action reaches
//! its app without a phone number being typed — the "Open itsme" link on the same phone (itsme's
//! `a2a` mode), and the QR code a desktop page shows for a second device to scan (`QR`). On the
//! phone-number path (`MSISDN`) the app and the waiting page show the same verification icon.
//!
//! A real itsme app is enrolled once and knows its person; the emulated one learns it the same
//! way, once per browser: the person picks one of the test people, and a cookie on the sandbox's
//! path remembers it until they change it.

use super::*;

/// The cookie that says which test person this browser's emulated phone belongs to.
pub(super) const DEVICE_COOKIE: &str = "passerelle_sandbox_phone";
/// How long a QR code's link stays valid: it changes every `QR_PERIOD` seconds and the previous
/// one is still accepted, so a code is good for one to two periods.
pub(super) const QR_PERIOD: i64 = 30;

/// The icons the phone-number path asks the person to match, with the message naming each.
const ICONS: [(&str, &str); 8] = [
    ("★", "icon-star"),
    ("♥", "icon-heart"),
    ("☀", "icon-sun"),
    ("☂", "icon-umbrella"),
    ("♣", "icon-clover"),
    ("♦", "icon-diamond"),
    ("♫", "icon-music"),
    ("✈", "icon-plane"),
];

/// How an action reached the person, as itsme's `identification_mode` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The phone-number form on a desktop (with its QR code beside it).
    Desktop,
    /// The same phone: an "Open itsme" link into the app.
    SameDevice,
}

impl Mode {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Mode::Desktop => "desktop",
            Mode::SameDevice => "a2a",
        }
    }

    pub(super) fn of(action: &SandboxAction) -> Mode {
        match detail(action, "mode").as_deref() {
            Some("a2a") => Mode::SameDevice,
            _ => Mode::Desktop,
        }
    }

    /// A phone's browser, by its User-Agent or the request's `display=touch`.
    pub(super) fn for_request(headers: &HeaderMap, display: Option<&str>) -> Mode {
        if display == Some("touch") {
            return Mode::SameDevice;
        }
        let ua = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // The tokens every mobile browser sends ("Mobile" on iOS and Android phones, "Android"
        // also on tablets); an iPad asking for the desktop site says it is a Mac, as it wants.
        if ["Mobi", "Android", "iPhone", "iPad", "iPod"]
            .iter()
            .any(|t| ua.contains(t))
        {
            Mode::SameDevice
        } else {
            Mode::Desktop
        }
    }
}

/// A member of the action's details (the JSON kept in its `claims` column).
pub(super) fn detail(action: &SandboxAction, key: &str) -> Option<String> {
    serde_json::from_str::<Value>(&action.claims)
        .ok()?
        .get(key)?
        .as_str()
        .map(str::to_string)
}

/// The strength the action asked for. Actions written before it was recorded demanded the code.
pub(super) fn acr_of(action: &SandboxAction) -> Acr {
    detail(action, "acr")
        .as_deref()
        .and_then(Acr::parse)
        .unwrap_or(Acr::Advanced)
}

/// The verification icon of an action (its symbol, and the message that names it).
pub(super) fn icon_of(
    sb: &Sandbox,
    action: &SandboxAction,
) -> Result<(&'static str, &'static str), Failure> {
    let mac = sb.hmac("icon", &[&action.id])?;
    let n = mac.bytes().fold(0usize, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    Ok(ICONS[n % ICONS.len()])
}

/// The test person this browser's emulated phone belongs to, if it has chosen one.
pub(super) fn device_persona<'a>(sb: &'a Sandbox, headers: &HeaderMap) -> Option<&'a Persona> {
    let phone = cookie(headers, DEVICE_COOKIE)?;
    let phone = url::form_urlencoded::parse(format!("p={phone}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    sb.personas.find(&phone)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Sandbox {
    /// The token a QR code carries for `action_id` in period `slot`.
    fn qr_token(&self, action_id: &str, slot: i64) -> Result<String, Failure> {
        let mac = self.hmac("qr", &[action_id, &slot.to_string()])?;
        Ok(mac.chars().take(22).collect())
    }

    /// Whether `token` is the current or the previous period's QR token of the action.
    fn qr_token_is_live(&self, action_id: &str, token: &str, now: i64) -> Result<bool, Failure> {
        let slot = now.div_euclid(QR_PERIOD);
        for s in [slot, slot - 1] {
            let expected = self.qr_token(action_id, s)?;
            if bool::from(expected.as_bytes().ct_eq(token.as_bytes())) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The absolute URL a QR code for the action encodes right now.
    pub(super) fn qr_link(&self, action_id: &str, now: i64) -> Result<String, Failure> {
        let token = self.qr_token(action_id, now.div_euclid(QR_PERIOD))?;
        Ok(format!(
            "{}/app/actions/{action_id}/scan?t={token}",
            self.issuer
        ))
    }
}

/// The QR code of an action, as an SVG image that changes every [`QR_PERIOD`] seconds.
pub(super) async fn qr_image(
    State(sb): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let tr = translator(None, &headers);
    let action = live_action(&sb, &tr, &id).await?;
    if action.status != ActionState::AwaitingPhone || Mode::of(&action) != Mode::Desktop {
        return Err(Failure::Page {
            status: StatusCode::GONE,
            tr: tr.clone(),
            message: tr.t("app-finished"),
        });
    }
    let link = sb.qr_link(&action.id, sb.clock.now())?;
    let code = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Failure::Internal(format!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        svg,
    )
        .into_response())
}

/// Whether the action moved or is decided yet, for the waiting pages' script: `{"decided": bool,
/// "moved": bool}`, after waiting up to [`LONG_POLL`] for it to move.
pub(super) async fn status(State(sb): Shared, Path(id): Path<String>) -> Reply {
    let started = Instant::now();
    loop {
        let now = sb.clock.now();
        let Some(action) = sb.store.find_sandbox_action(&id, now).await? else {
            return Ok((
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(json!({ "decided": true, "moved": true })),
            )
                .into_response());
        };
        let (action, _) = apply(&sb, action, ActionEvent::Observed, None).await?;
        let moved = action.status != ActionState::AwaitingPhone;
        let elapsed = started.elapsed();
        if moved || elapsed >= LONG_POLL {
            return Ok((
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(json!({ "decided": action.status.is_decided(), "moved": moved })),
            )
                .into_response());
        }
        sb.waiters
            .wait(&id, Duration::from_secs(1).min(LONG_POLL - elapsed))
            .await;
    }
}

/// The "Open itsme" link of a phone's browser: the app opens on this action.
pub(super) async fn open(State(sb): Shared, Path(id): Path<String>, headers: HeaderMap) -> Reply {
    let tr = translator(None, &headers);
    let action = live_action(&sb, &tr, &id).await?;
    if Mode::of(&action) != Mode::SameDevice {
        return Err(Failure::page(&tr, tr.t("app-finished")));
    }
    enter(&sb, &headers, action, &format!("/app/actions/{id}/open")).await
}

/// A scanned QR code: the app opens on this action if the code is still live.
pub(super) async fn scan(
    State(sb): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let tr = translator(None, &headers);
    let action = live_action(&sb, &tr, &id).await?;
    let tr = translator(action.ui_locales.as_deref(), &headers);
    let params = parse_pairs(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let token = params.get("t").unwrap_or_default().to_string();
    if Mode::of(&action) != Mode::Desktop || !sb.qr_token_is_live(&id, &token, sb.clock.now())? {
        return Err(Failure::Page {
            status: StatusCode::GONE,
            tr: tr.clone(),
            message: tr.t("qr-expired"),
        });
    }
    let back = format!("/app/actions/{id}/scan?t={token}");
    enter(&sb, &headers, action, &back).await
}

/// The app of this browser's person opens on `action`: the action is theirs from now on (as if
/// they had typed their number), or the app asks first which test person this phone is.
async fn enter(sb: &Sandbox, headers: &HeaderMap, action: SandboxAction, back: &str) -> Reply {
    if action.is_decoupled() {
        // A decoupled request reaches the app through its inbox, never by a link or a code.
        let tr = translator(action.ui_locales.as_deref(), headers);
        return Err(Failure::page(&tr, tr.t("app-finished")));
    }
    let Some(persona) = device_persona(sb, headers) else {
        return Ok(device_page(
            sb,
            headers,
            action.ui_locales.as_deref(),
            back,
            None,
        ));
    };
    let action = if action.status == ActionState::AwaitingPhone {
        let number = persona.phone_number.clone();
        let event = persona_event(sb, persona).await?;
        apply(sb, action, event, Some(number)).await?.0
    } else {
        action
    };
    if action.phone_number.as_deref() != Some(persona.phone_number.as_str()) {
        // Somebody else's action: the app of this phone does not show it.
        let tr = translator(action.ui_locales.as_deref(), headers);
        return Err(Failure::page(&tr, tr.t("app-not-yours")));
    }
    render_app(sb, headers, &action, None).await
}

/// What submitting `persona`'s number does to an action: the persona's script, unless its account
/// is blocked (a blocked account receives no action, as in itsme: the login ends as after three
/// wrong codes). Only a person who types codes in the app can be blocked: scripted personas that
/// decide at once never are, and cost no query.
pub(super) async fn persona_event(sb: &Sandbox, persona: &Persona) -> Result<ActionEvent, Failure> {
    let scripted = persona.behaviour();
    let behaviour = if matches!(scripted, Behaviour::Manual | Behaviour::Timeout)
        && sb
            .store
            .sandbox_account_blocked(&persona.phone_number, sb.clock.now())
            .await?
    {
        Behaviour::Blocked
    } else {
        scripted
    };
    Ok(ActionEvent::PhoneSubmitted {
        behaviour,
        app_timeout_secs: persona.app_timeout_seconds.unwrap_or(sb.app_timeout_secs),
    })
}

/// "Which test person is this phone?": the people to choose from, then back to `back`.
pub(super) fn device_page(
    sb: &Sandbox,
    headers: &HeaderMap,
    ui_locales: Option<&str>,
    back: &str,
    error: Option<String>,
) -> Response {
    let tr = translator(ui_locales, headers);
    let current = device_persona(sb, headers).map(|p| p.phone_number.clone());
    let people = sb
        .personas
        .all()
        .iter()
        .map(|p| DeviceChoice {
            checked: current.as_deref() == Some(p.phone_number.as_str()),
            phone: p.phone_number.clone(),
            name: match &p.given_name {
                Some(g) => format!("{g} {}", p.family_name),
                None => p.family_name.clone(),
            },
            label: p.label.clone(),
        })
        .collect();
    html(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &DevicePage {
            tr: &tr,
            action: sb.path("/app/device"),
            back: back.to_string(),
            people,
            error,
        },
    )
}

/// The device page, for changing the person: `?next=` is where to go afterwards.
pub(super) async fn device_form(
    State(sb): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = parse_pairs(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let back = safe_back(params.get("next"));
    device_page(&sb, &headers, params.get("ui_locales"), &back, None)
}

/// Only a path of the app itself is a place to go back to.
fn safe_back(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/app/")
                && !n.contains("//")
                && !n.contains("..")
                && !n.contains('\\')
                && n.len() <= 200
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => "/app/device".to_string(),
    }
}

/// The person chose who this phone is: remember it, and go back where the app was opened.
pub(super) async fn device_submit(State(sb): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_pairs(&body).unwrap_or_default();
    let back = safe_back(form.get("next"));
    let Some(persona) = form
        .get("phone")
        .and_then(crate::personas::normalize_phone)
        .and_then(|p| sb.personas.find(&p))
    else {
        let tr = translator(None, &headers);
        return device_page(&sb, &headers, None, &back, Some(tr.t("device-choose")));
    };
    let secure = sb.issuer.starts_with("https://");
    let path = sb.path("");
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    let value: String =
        url::form_urlencoded::byte_serialize(persona.phone_number.as_bytes()).collect();
    let cookie = format!(
        "{DEVICE_COOKIE}={value}; Path={path}; Max-Age=31536000; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    );
    let mut resp = Redirect::to(&sb.path(&back)).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
