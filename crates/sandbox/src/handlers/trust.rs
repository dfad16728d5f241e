//! The signing service's router (`<base>/csc/v1`, see `csc`) and the sandbox's trust services,
//! TEST ONLY: its CA's certificates (`/ca/root.pem`, `/ca/chain.pem`: the issuing CA, then the
//! root) and an RFC 3161 time-stamping authority (`/tsa`: `application/timestamp-query` in,
//! `application/timestamp-reply` out), since itsme's signing service has no
//! `signatures/timestamp` (reference §1.1) and a B-T signature needs one.

use axum::extract::DefaultBodyLimit;
use passerelle_sign::tsp;

use super::*;

/// The largest time-stamp request taken (a real one is about a hundred bytes).
const TSA_BODY_LIMIT: usize = 16 * 1024;

/// The signing service and the trust services, relative to the sandbox's base (mount them at
/// the path above the issuer's `/v2`: `/sandbox` in `passerelle serve`).
pub fn signing_router(sandbox: Arc<Sandbox>) -> Router {
    // The authorization endpoint is a page for a person: an unavailable database is a page.
    let pages = Router::new()
        .route("/csc/v1/oauth2/authorize", get(super::csc::authorize))
        .route_layer(axum::middleware::from_fn_with_state(
            unavailable_page as later::UnavailablePage,
            later::unavailable_as_page,
        ));
    Router::new()
        .route("/csc/v1/info", post(super::csc::info))
        .route("/csc/v1/oauth2/token", post(super::csc::token))
        .route(
            "/csc/v1/credentials/list",
            post(super::csc::credentials_list),
        )
        .route(
            "/csc/v1/credentials/info",
            post(super::csc::credentials_info),
        )
        .route("/csc/v1/signatures/signHash", post(super::csc::sign_hash))
        .route("/csc/v1/signatures/signhash", post(super::csc::sign_hash))
        .route("/csc/v1/auth/revoke", post(super::csc::revoke))
        .route("/ca/root.pem", get(root_pem))
        .route("/ca/chain.pem", get(chain_pem))
        .route(
            "/tsa",
            post(time_stamp).layer(DefaultBodyLimit::max(TSA_BODY_LIMIT)),
        )
        .merge(pages)
        .with_state(sandbox)
}

fn pem(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `GET /ca/root.pem`: the sandbox's root CA certificate, to trust when validating its
/// signatures (and only then: TEST ONLY).
pub(super) async fn root_pem(State(sb): Shared) -> Reply {
    let authorities = sb.authorities().await?;
    Ok(pem(passerelle_sign::ca::to_pem(&authorities.root_der)))
}

/// `GET /ca/chain.pem`: the issuing CA's certificate and the root's.
pub(super) async fn chain_pem(State(sb): Shared) -> Reply {
    let authorities = sb.authorities().await?;
    Ok(pem(authorities.chain_pem()))
}

/// `POST /tsa`: an RFC 3161 time stamp (§3.4), or a `rejection` reply for a request the
/// authority cannot read; 415 for another content type.
pub(super) async fn time_stamp(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    // Each request costs an RSA signature.
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some(tsp::QUERY_CONTENT_TYPE) {
        return Ok((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "send an RFC 3161 TimeStampReq as application/timestamp-query",
        )
            .into_response());
    }
    let authorities = sb.authorities().await?;
    let now = time::OffsetDateTime::from_unix_timestamp(sb.clock.now())
        .map_err(|e| Failure::Internal(format!("the clock: {e}")))?;
    // A positive serial of at most 127 bits, unique with overwhelming probability.
    let serial = rand::random::<u128>() >> 1;
    let reply = tokio::task::spawn_blocking(move || authorities.time_stamp(&body, serial, now))
        .await
        .map_err(|e| Failure::Internal(format!("time stamping stopped: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, tsp::REPLY_CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        reply,
    )
        .into_response())
}
