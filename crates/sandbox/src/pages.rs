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
    /// The QR code a second device can scan instead (the desktop path).
    pub qr: Option<QrBox>,
}

/// The QR code beside the phone-number form, and where its script looks.
pub(crate) struct QrBox {
    /// The image (it changes every period).
    pub image: String,
    /// The JSON that says whether the action moved, for the script.
    pub status: String,
    /// Where the page goes once it moved.
    pub next: String,
    /// The waiting page that shows the code without JavaScript.
    pub wait: String,
    /// The app link the code encodes, for a person with a second tab instead of a second device.
    pub scan: String,
    pub script: String,
}

/// What a waiting page's script watches: it long-polls `status` and goes to `next` once the
/// answer's `until` member (`moved` or `decided`) is true. Without JavaScript the page's meta
/// refresh (inside `<noscript>`) long-polls instead, reloading the page every 20 s.
pub(crate) struct Watch {
    pub status: String,
    pub next: String,
    pub until: &'static str,
    pub script: String,
}

/// The icon a person matches between the waiting page and the app.
pub(crate) struct Icon {
    pub symbol: &'static str,
    pub name: String,
    pub sentence: String,
}

#[derive(Template)]
#[template(path = "wait.html")]
pub(crate) struct WaitPage<'a> {
    pub tr: &'a Translator,
    pub intro: String,
    pub poll_url: String,
    pub app_url: String,
    pub watch: Watch,
    pub icon: Option<Icon>,
    /// The QR code's image, while the page waits for it to be scanned.
    pub qr: Option<String>,
}

/// "Open itsme": what a phone's browser gets instead of the phone-number form.
#[derive(Template)]
#[template(path = "open.html")]
pub(crate) struct OpenPage<'a> {
    pub tr: &'a Translator,
    pub intro: String,
    pub open_url: String,
    pub poll_url: String,
    pub cancel: String,
    pub watch: Watch,
}

/// One test person a phone can belong to.
pub(crate) struct DeviceChoice {
    pub phone: String,
    pub name: String,
    pub label: String,
    pub checked: bool,
}

/// "Which test person is this phone?"
#[derive(Template)]
#[template(path = "device.html")]
pub(crate) struct DevicePage<'a> {
    pub tr: &'a Translator,
    pub action: String,
    pub back: String,
    pub people: Vec<DeviceChoice>,
    pub error: Option<String>,
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
    /// Where to change the person this phone belongs to.
    pub change: Option<String>,
    /// The link back to the browser, once decided on the same phone.
    pub return_url: Option<String>,
    pub return_label: String,
    /// Whether a fingerprint or face may approve (`acr_basic`).
    pub biometrics: bool,
    pub icon: Option<Icon>,
    /// The binding message of a decoupled request, worded for the person.
    pub binding_message: Option<String>,
    /// What a request of the signing service shows instead of the data asked for.
    pub signing: Option<SigningView>,
}

/// A signing request in the app: a note (the certificate the first service authorization
/// creates), the description the client sent and how many documents are signed.
pub(crate) struct SigningView {
    pub note: Option<String>,
    pub description: Option<String>,
    pub documents: Option<String>,
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

/// An action that finished elsewhere (its code was redeemed through another browser or tab).
#[derive(Template)]
#[template(path = "done.html")]
pub(crate) struct DonePage<'a> {
    pub tr: &'a Translator,
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
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'"),
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

/// The script of the pages that wait (the desktop phone page with its QR code, the waiting pages,
/// "Open itsme"): it refreshes the QR code, if any, and moves on once the action does, without
/// reloading the page meanwhile — so focus and a screen reader's place stay where they are. The
/// pages work without it (the phone page links to a waiting page; the waiting pages long-poll by
/// a meta refresh inside `<noscript>`).
pub(crate) const WAIT_SCRIPT: &str = r#"(function () {
  var box = document.querySelector('[data-status]');
  if (!box || !window.fetch) return;
  var until = box.getAttribute('data-until') || 'moved';
  var img = document.getElementById('qr');
  var src = box.getAttribute('data-src');
  if (img && src) setInterval(function () { img.src = src + '?r=' + Date.now(); }, 15000);
  // Once the person leaves the page (the phone form, Cancel), their navigation moves the login
  // on: a second one from here would race it to the broker, which takes one answer only.
  var leaving = false;
  window.addEventListener('beforeunload', function () { leaving = true; });
  window.addEventListener('pageshow', function (e) { if (e.persisted && leaving) { leaving = false; poll(); } });
  function poll() {
    if (leaving) return;
    fetch(box.getAttribute('data-status'), { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : { later: true }; })
      .then(function (j) {
        if (leaving) return;
        if (j[until]) { leaving = true; window.location.assign(box.getAttribute('data-next')); }
        else { setTimeout(poll, j.later ? 3000 : 100); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
"#;
