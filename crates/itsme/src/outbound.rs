//! The signing API's other outbound calls: RFC 3161 time-stamp requests to a time-stamping
//! authority, and event deliveries to a relying party's webhook. Both with short timeouts, no
//! redirects followed, and nothing of the payload in logs.

use std::time::Duration;

use crate::ConnectorError;

/// An HTTP client for the TSA and webhooks.
#[derive(Debug, Clone)]
pub struct Outbound {
    http: reqwest::Client,
}

/// The largest time-stamp reply taken (a token with a certificate chain is a few KiB).
const MAX_REPLY: usize = 64 * 1024;

impl Outbound {
    pub fn new() -> Result<Outbound, ConnectorError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
        Ok(Outbound { http })
    }

    /// POSTs a `TimeStampReq` to `url` and returns the `TimeStampResp` bytes (checking them is
    /// the caller's: `passerelle_sign::tsp::token_from_response`).
    pub async fn time_stamp(&self, url: &str, request: Vec<u8>) -> Result<Vec<u8>, ConnectorError> {
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
            .body(request)
            .send()
            .await
            .map_err(|e| ConnectorError::Unavailable(format!("time-stamping authority: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                ConnectorError::Unavailable(format!("time-stamping authority answered {status}"))
            } else {
                ConnectorError::Protocol(format!("time-stamping authority answered {status}"))
            });
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| ConnectorError::Unavailable(format!("time-stamping authority: {e}")))?;
        if body.len() > MAX_REPLY {
            return Err(ConnectorError::Protocol(
                "time-stamping authority's reply is too large".into(),
            ));
        }
        Ok(body.to_vec())
    }

    /// POSTs an event (JSON) to a webhook with its signature header; any 2xx is delivered.
    pub async fn deliver_event(
        &self,
        url: &str,
        body: String,
        signature: &str,
    ) -> Result<(), ConnectorError> {
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Passerelle-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| ConnectorError::Unavailable(format!("webhook: {e}")))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(ConnectorError::Unavailable(format!(
                "webhook answered {}",
                resp.status()
            )))
        }
    }
}
