//! The sandbox's pages. Every word comes from the translator; every value is escaped by askama.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_i18n::Translator;

#[derive(Template)]
#[template(path = "phone.html")]
pub(crate) struct PhonePage<'a> {
    pub tr: &'a Translator,
    pub intro: String,
    pub action: String,
    pub cancel: String,
    pub personas: String,
    pub phone: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "wait.html")]
pub(crate) struct WaitPage<'a> {
    pub tr: &'a Translator,
    pub intro: String,
    pub poll_url: String,
    pub app_url: String,
    pub refresh_seconds: u32,
}

#[derive(Template)]
#[template(path = "app.html")]
pub(crate) struct AppPage<'a> {
    pub tr: &'a Translator,
    pub account: String,
    pub asks: String,
    pub items: Vec<(String, String)>,
    pub action: String,
    pub error: Option<String>,
    pub done: Option<String>,
    pub approved: bool,
    /// The binding message of a decoupled request, worded for the person.
    pub binding_message: Option<String>,
}

/// The emulated app's side of a QR scan: which sandbox account scans it.
#[derive(Template)]
#[template(path = "discover.html")]
pub(crate) struct DiscoverPage<'a> {
    pub tr: &'a Translator,
    pub action: String,
    pub phone: String,
    pub error: Option<String>,
    pub done: Option<String>,
}

/// One pending action in the emulated phone's inbox.
pub(crate) struct InboxRow {
    /// Who asks, worded for the person.
    pub from: String,
    pub binding_message: Option<String>,
    pub link: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
pub(crate) struct InboxPage<'a> {
    pub tr: &'a Translator,
    pub action: String,
    pub phone: String,
    /// A valid phone number was given: show its inbox.
    pub shown: bool,
    pub rows: Vec<InboxRow>,
    pub error: Option<String>,
}

/// One row of the personas page.
pub(crate) struct PersonaRow {
    pub phone: String,
    pub country: String,
    pub behaviour: &'static str,
    pub code: String,
    pub name: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "personas.html")]
pub(crate) struct PersonasPage<'a> {
    pub tr: &'a Translator,
    pub rows: Vec<PersonaRow>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub tr: &'a Translator,
    pub title: String,
    pub message: String,
}

/// Renders a page with the security headers every page gets.
pub(crate) fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
