//! The signals that ask a run to stop: Ctrl-C (SIGINT), SIGTERM (systemd, Kubernetes,
//! `kill`) and SIGHUP (the terminal went away). Each stops a run as Ctrl-C does: cleanly
//! and resumable, and a rehearsal removes its throwaway server.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves when one of the stopping signals arrives (false: none can be listened to).
pub async fn stop_requested() -> bool {
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return tokio::signal::ctrl_c().await.is_ok();
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.is_ok(),
        r = term.recv() => r.is_some(),
        r = hup.recv() => r.is_some(),
    }
}
