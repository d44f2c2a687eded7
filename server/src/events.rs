//! The event hub: every state change is published here and streamed to SSE clients.

use cosmosq_shared::api::Event;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events a slow client may fall behind by before it is told to resync.
const BACKLOG: usize = 1024;

/// The hub every change is published to.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Event>,
    /// Event-stream clients now connected (see [`Events::stream`]).
    streams: Arc<AtomicUsize>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(BACKLOG).0,
            streams: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// One event-stream client's place: given back when it is dropped (the client went away).
pub struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Events {
    pub fn publish(&self, event: Event) {
        // No subscriber is fine: nobody is watching.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Subscribe an event-stream client, unless `max` are connected already.
    pub fn stream(&self, max: usize) -> Option<(StreamSlot, broadcast::Receiver<Event>)> {
        self.streams
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some((StreamSlot(self.streams.clone()), self.tx.subscribe()))
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}
