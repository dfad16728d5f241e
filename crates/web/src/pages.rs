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

pub(crate) fn html(
    status: StatusCode,
    page: &impl Template,
    script_nonce: Option<&str>,
) -> Response {
    let csp = match script_nonce {
        Some(n) => format!("default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{n}'; form-action http: https:; frame-ancestors 'none'"),
        None => "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'".to_string(),
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
