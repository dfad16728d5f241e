//! The broker's pages: the error page a person sees when a request cannot be redirected, and the
//! form_post response page.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_i18n::Translator;

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub tr: &'a Translator,
    pub message: String,
    pub show_intro: bool,
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub(crate) struct FormPostPage<'a> {
    pub tr: &'a Translator,
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub nonce: String,
}

/// The page that explains why a login cannot happen here and takes the person back to the
/// client, with the OAuth error, by a link (query) or a button (form_post).
#[derive(Template)]
#[template(path = "unserved.html")]
pub(crate) struct UnservedPage<'a> {
    pub tr: &'a Translator,
    pub message: String,
    pub back: String,
    pub form_post: bool,
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// A page that says one thing (a heading, a message, maybe a link): the signer's outcomes, and
/// the end of a logout. `class` is `error` (an alert) or anything else (a status).
#[derive(Template)]
#[template(path = "sign_message.html")]
pub(crate) struct MessagePage<'a> {
    pub tr: &'a Translator,
    pub heading: String,
    pub message: String,
    pub class: &'static str,
    pub link: Option<(String, String)>,
}

pub(crate) fn message(
    tr: &Translator,
    status: StatusCode,
    heading: String,
    text: String,
    class: &'static str,
    link: Option<(String, String)>,
) -> Response {
    html(
        status,
        &MessagePage {
            tr,
            heading,
            message: text,
            class,
            link,
        },
        Csp::Static,
    )
}

/// What a page may do beyond showing itself (its Content-Security-Policy).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Csp<'a> {
    /// Nothing: no script, no form.
    Static,
    /// Submit a form to a client's redirect URI (any http(s) origin).
    FormToClient,
    /// Also run the one inline script carrying this nonce.
    ScriptNonce(&'a str),
}

pub(crate) fn html(status: StatusCode, page: &impl Template, csp: Csp<'_>) -> Response {
    let csp = match csp {
        Csp::ScriptNonce(n) => format!("default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{n}'; form-action http: https:; frame-ancestors 'none'"),
        Csp::FormToClient => "default-src 'none'; style-src 'unsafe-inline'; form-action http: https:; frame-ancestors 'none'".to_string(),
        Csp::Static => "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'".to_string(),
    };
    match page.render() {
        Ok(body) => {
            let mut resp = (
                status,
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                    (header::X_FRAME_OPTIONS, "DENY"),
                    (header::REFERRER_POLICY, "no-referrer"),
                ],
                body,
            )
                .into_response();
            if let Ok(v) = header::HeaderValue::from_str(&csp) {
                resp.headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, v);
            }
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
