//! Delivering signing events to clients' webhooks, and housekeeping of the signing rows.
//!
//! Events are written in the same transaction as the change they announce (an outbox), so none
//! is lost; any node delivers them, each claimed by one conditional update, with retries at
//! growing intervals. A delivery carries `Passerelle-Signature`: a JWS by the broker's
//! ID-token key (verify it with the issuer's JWKS) over `{"aud": client_id, "sha256": <base64url
//! SHA-256 of the body>, "iat"}`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use passerelle_core::signing::{Event, State};
use serde_json::json;

use super::api::event;
use crate::Broker;

/// How long a claimed delivery is reserved for its node.
const LEASE: i64 = 60;
/// Retries after a failed delivery (seconds from the failure); then it is given up (still
/// readable by polling until it expires).
const RETRIES: [i64; 6] = [10, 30, 120, 600, 3600, 6 * 3600];

/// One round: expire due sessions, deliver due events. Returns how many events were delivered.
pub async fn run_once(b: &Broker) -> usize {
    let now = b.clock.now();
    if let Err(e) = b
        .store
        .expire_sign_sessions(now, |s| event(b, s, Event::Expired, State::Expired))
        .await
    {
        tracing::warn!(error = %e, "cannot expire signing sessions");
    }
    let claimed = match b.store.claim_sign_events(now, LEASE, 50).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read signing events");
            return 0;
        }
    };
    let mut delivered = 0;
    for e in claimed {
        let webhook = match b.store.find_client(&e.client_id).await {
            Ok(Some(c)) => c.signing_webhook,
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read a client for a signing event");
                continue;
            }
        };
        let Some(url) = webhook else {
            // Nobody to tell: the event stays readable by polling.
            let _ = b.store.sign_event_attempted(&e.id, None, None).await;
            continue;
        };
        let outcome = match signature(b, &e.client_id, &e.payload) {
            Some(sig) => b
                .signing
                .outbound
                .deliver_event(&url, e.payload.clone(), &sig)
                .await
                .map_err(|err| err.to_string()),
            None => Err("cannot sign the delivery".into()),
        };
        let now = b.clock.now();
        let result = match outcome {
            Ok(()) => {
                delivered += 1;
                b.store.sign_event_attempted(&e.id, Some(now), None).await
            }
            Err(err) => {
                let retry = RETRIES
                    .get((e.attempts - 1).max(0) as usize)
                    .map(|d| now + d);
                tracing::warn!(client.id = %e.client_id, event = %e.name, attempts = e.attempts, error = %err, "signing event not delivered");
                b.store.sign_event_attempted(&e.id, None, retry).await
            }
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "cannot record a signing event delivery");
        }
    }
    delivered
}

fn signature(b: &Broker, client_id: &str, body: &str) -> Option<String> {
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(passerelle_sign::sha256(body.as_bytes()));
    let now = b.clock.now();
    let claims = json!({"aud": client_id, "sha256": digest, "iat": now, "iss": b.issuer});
    let claims = claims.as_object()?.clone();
    b.keys
        .for_alg(passerelle_jose::SigAlg::Rs256, now)?
        .sign(&claims, Some("passerelle-event+jwt"))
        .ok()
}

/// Runs [`run_once`] every `every` until the task is dropped.
pub fn spawn(b: Arc<Broker>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            run_once(&b).await;
        }
    })
}
