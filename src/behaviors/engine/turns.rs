//! The turns of a batch of events in flight at once: each event decides in
//! the order the events arrived, one at a time (see [`super::inbox`]). A
//! leaf, so that a context can carry its event's place.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The turns of one batch: `head` is the first event not yet past its turn.
pub(crate) struct Turns {
    pub(super) head: watch::Sender<usize>,
    released: Mutex<Vec<bool>>,
}

impl Turns {
    pub(super) fn new(n: usize) -> Arc<Turns> {
        Arc::new(Turns { head: watch::Sender::new(0), released: Mutex::new(vec![false; n]) })
    }

    /// Event `i` is past its turn (done with it, or never needing it).
    pub(super) fn release(&self, i: usize) {
        let mut released = crate::sync::lock(&self.released);
        if let Some(r) = released.get_mut(i) {
            *r = true;
        }
        let mut head = *self.head.borrow();
        while released.get(head).copied().unwrap_or(false) {
            head += 1;
        }
        self.head.send_if_modified(|h| std::mem::replace(h, head) != head);
    }
}

/// An event's place in its batch (carried by its [`Ctx`]).
#[derive(Clone)]
pub(crate) struct Place {
    pub(super) turns: Arc<Turns>,
    pub(super) index: usize,
}

/// Held while an event decides; dropping it gives the turn to the next event.
pub struct Turn(pub(super) Option<Place>);

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            p.turns.release(p.index);
        }
    }
}
