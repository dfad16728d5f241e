//! Wake-ups for waiting pages on this node. A waiting page also re-reads its action every second,
//! so a decision taken on another node (or a missed wake-up) is seen within a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub(crate) struct Waiters {
    map: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Waiters {
    /// Waits until `id` is woken or `max` passes.
    pub(crate) async fn wait(&self, id: &str, max: Duration) {
        let notify = self
            .map
            .lock()
            .ok()
            .map(|mut m| m.entry(id.to_string()).or_default().clone());
        let Some(notify) = notify else {
            return tokio::time::sleep(max).await;
        };
        let _ = tokio::time::timeout(max, notify.notified()).await;
        if let Ok(mut m) = self.map.lock() {
            // Only the map and this waiter hold it: nobody else is waiting.
            if m.get(id).is_some_and(|n| Arc::strong_count(n) <= 2) {
                m.remove(id);
            }
        }
    }

    pub(crate) fn wake(&self, id: &str) {
        if let Ok(m) = self.map.lock()
            && let Some(n) = m.get(id)
        {
            n.notify_waiters();
        }
    }
}
