//! Who takes which notification types: the table the poller hands events
//! over by, kept by the runtime as behaviors start and stop. A screening
//! behavior (`moderation`) takes the events of its types first, alone; the
//! inbox passes each on to the others once it is screened.

use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::wire::types::NotificationType;

/// One behavior's entry: the types it takes, how to wake it, whether it screens.
#[derive(Clone)]
pub struct Route {
    pub behavior: String,
    pub types: Vec<NotificationType>,
    pub wake: Arc<Notify>,
    pub screens: bool,
}

pub type Routes = Arc<RwLock<Vec<Route>>>;

/// The behaviors an event of type `kind` goes to: the first screening
/// behavior that takes the type when there is one, else every behavior that does.
pub fn routes_for<'a>(table: &'a [Route], kind: Option<&NotificationType>) -> Vec<&'a Route> {
    let Some(kind) = kind else { return vec![] };
    match table.iter().find(|r| r.screens && r.types.contains(kind)) {
        Some(s) => vec![s],
        None => table.iter().filter(|r| r.types.contains(kind)).collect(),
    }
}
