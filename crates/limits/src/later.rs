//! The answers that tell a client to come back later, shared by the broker and the sandbox: 429
//! over a rate limit and 503 while the database is unavailable, both with `Retry-After`; and the
//! middleware that turns a 503 into a page for the routes a person's browser opens.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The `Retry-After` of a 503, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// Marks a response as "the database is unavailable", for [`unavailable_as_page`].
#[derive(Debug, Clone, Copy)]
struct Unavailable;

/// 503 `temporarily_unavailable` with `description`, `Retry-After` and `no-store`, marked so that
/// [`unavailable_as_page`] can make a page of it.
pub fn unavailable_json(description: &str) -> Response {
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({ "error": "temporarily_unavailable", "error_description": description })),
    )
        .into_response();
    with_retry_after(&mut resp, RETRY_AFTER_SECONDS);
    resp.extensions_mut().insert(Unavailable);
    resp
}

/// 429 over a rate limit, for a machine.
pub fn throttled_json(retry_after_secs: u64) -> Response {
    let mut resp = (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "error": "temporarily_unavailable",
            "error_description": format!("too many requests: retry after {retry_after_secs} s"),
        })),
    )
        .into_response();
    with_retry_after(&mut resp, retry_after_secs);
    resp
}

pub fn with_retry_after(resp: &mut Response, seconds: u64) {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}

/// Renders the 503 page from the query's `ui_locales` and the `Accept-Language` header (the
/// flow's own language is in the database that cannot be read).
pub type UnavailablePage = fn(ui_locales: Option<&str>, accept_language: Option<&str>) -> Response;

/// Middleware for the routes a person's browser opens: a response made by [`unavailable_json`]
/// becomes the page `render` makes, 503 with the same `Retry-After`.
pub async fn unavailable_as_page(
    State(render): State<UnavailablePage>,
    req: Request,
    next: Next,
) -> Response {
    // Kept aside cheaply (a `Uri` clone shares its bytes) and read only for the rare 503: the
    // sandbox's authorization URL carries a request object of kilobytes.
    let uri = req.uri().clone();
    let accept = req.headers().get(header::ACCEPT_LANGUAGE).cloned();
    let resp = next.run(req).await;
    if resp.extensions().get::<Unavailable>().is_none() {
        return resp;
    }
    let ui_locales = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "ui_locales")
            .map(|(_, v)| v.into_owned())
    });
    let mut page = render(
        ui_locales.as_deref(),
        accept.as_ref().and_then(|v| v.to_str().ok()),
    );
    *page.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    with_retry_after(&mut page, RETRY_AFTER_SECONDS);
    page
}
