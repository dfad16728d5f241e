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
    /// Waits until `id` is woken or `max` passes. The entry goes when its last waiter does,
    /// also when the request is dropped half-way (a browser that closed the waiting page).
    pub(crate) async fn wait(&self, id: &str, max: Duration) {
        let notify = self
            .map
            .lock()
            .ok()
            .map(|mut m| m.entry(id.to_string()).or_default().clone());
        let Some(notify) = notify else {
            return tokio::time::sleep(max).await;
        };
        let _leave = Leave {
            waiters: self,
            id,
            notify: &notify,
        };
        let _ = tokio::time::timeout(max, notify.notified()).await;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub(crate) fn wake(&self, id: &str) {
        if let Ok(m) = self.map.lock()
            && let Some(n) = m.get(id)
        {
            n.notify_waiters();
        }
    }
}

/// Removes a waiter's entry when it is the last one, however its wait ends.
struct Leave<'a> {
    waiters: &'a Waiters,
    id: &'a str,
    notify: &'a Arc<Notify>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.waiters.map.lock() {
            // Only the map and this waiter hold it: nobody else is waiting.
            if m.get(self.id)
                .is_some_and(|n| Arc::ptr_eq(n, self.notify) && Arc::strong_count(n) <= 2)
            {
                m.remove(self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_dropped_half_way_leaves_nothing_behind() {
        let w = Waiters::default();
        let dropped = tokio::time::timeout(
            Duration::from_millis(10),
            w.wait("abandoned", Duration::from_secs(60)),
        )
        .await;
        assert!(dropped.is_err(), "the wait was cut short");
        assert_eq!(w.len(), 0);
        w.wait("finished", Duration::from_millis(1)).await;
        assert_eq!(w.len(), 0);
    }
}
