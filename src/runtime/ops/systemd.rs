//! systemd integration: READY/STATUS/RELOADING/STOPPING/WATCHDOG over
//! `$NOTIFY_SOCKET` (a no-op when the daemon is not run by systemd).

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::Duration;

use sd_notify::NotifyState;

/// One notification, owned so it can cross to the sender thread.
enum Msg {
    Ready(String),
    Status(String),
    Reloading,
    Stopping,
    Watchdog,
}

/// Notifications go through a small queue to one thread: a datagram send
/// blocks when nobody drains the socket, and that must never stall the daemon.
fn sender() -> Option<&'static SyncSender<Msg>> {
    static TX: OnceLock<Option<SyncSender<Msg>>> = OnceLock::new();
    TX.get_or_init(|| {
        std::env::var_os("NOTIFY_SOCKET")?;
        let (tx, rx) = sync_channel::<Msg>(32);
        std::thread::Builder::new()
            .name("sd-notify".into())
            .spawn(move || {
                for m in rx {
                    let r = match m {
                        Msg::Ready(s) => sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&s)]),
                        Msg::Status(s) => sd_notify::notify(false, &[NotifyState::Status(&s)]),
                        Msg::Reloading => match NotifyState::monotonic_usec_now() {
                            Ok(now) => {
                                sd_notify::notify(false, &[NotifyState::Reloading, now, NotifyState::Status("reloading configuration")])
                            }
                            Err(_) => sd_notify::notify(false, &[NotifyState::Reloading, NotifyState::Status("reloading configuration")]),
                        },
                        Msg::Stopping => {
                            sd_notify::notify(false, &[NotifyState::Stopping, NotifyState::Status("stopping: finishing in-flight work")])
                        }
                        Msg::Watchdog => sd_notify::notify(false, &[NotifyState::Watchdog]),
                    };
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "sd_notify failed");
                    }
                }
            })
            .ok()?;
        Some(tx)
    })
    .as_ref()
}

fn send(m: Msg) {
    if let Some(tx) = sender() {
        if let Err(TrySendError::Full(_)) = tx.try_send(m) {
            tracing::debug!("notify socket not drained; dropping a notification");
        }
    }
}

/// Configuration valid, first authentication done.
pub fn ready(status: &str) {
    send(Msg::Ready(status.to_string()));
}

/// A line a person reads in `systemctl status`.
pub fn status(status: &str) {
    send(Msg::Status(status.to_string()));
}

/// Around a reload (`Type=notify-reload` wants the monotonic time with it).
pub fn reloading() {
    send(Msg::Reloading);
}

pub fn stopping() {
    send(Msg::Stopping);
}

pub fn watchdog() {
    send(Msg::Watchdog);
}

/// Half the watchdog period systemd asked for, when it asked.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
}
