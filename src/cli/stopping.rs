//! How the long-running commands (`watch` and the guard) stop: the first SIGINT or SIGTERM asks
//! them to stop after the rounds under way, the second rolls those rounds back.

use crate::engine::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the rounds listen to. Dropping it stops listening.
pub struct Stopping {
    /// Becomes true at the first signal: finish the rounds under way, start no more.
    pub stop: watch::Receiver<bool>,
    /// Set at the second signal: roll back the rounds under way.
    pub cancel: Arc<AtomicBool>,
    listener: JoinHandle<()>,
}

impl Drop for Stopping {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Listens from now on, so that a signal is never the default (killing) one once the first round
/// can start. `on_stop` and `on_cancel` tell the operator what each signal did. With
/// `on_hangup`, SIGHUP calls it instead of ending the process.
pub fn listen(
    on_stop: impl Fn() + Send + 'static,
    on_cancel: impl Fn() + Send + 'static,
    mut on_hangup: Option<Box<dyn FnMut() + Send>>,
) -> Result<Stopping, Error> {
    let mut interrupt = register(SignalKind::interrupt())?;
    let mut terminate = register(SignalKind::terminate())?;
    let mut hangup = match on_hangup {
        Some(_) => Some(register(SignalKind::hangup())?),
        None => None,
    };
    let (stop_sender, stop) = watch::channel(false);
    let cancel = Arc::new(AtomicBool::new(false));
    let on_signal = cancel.clone();
    let listener = tokio::spawn(async move {
        let mut asked = 0;
        loop {
            let hung_up = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hung_up => {
                    if let Some(reload) = on_hangup.as_mut() {
                        reload();
                    }
                    continue;
                }
            }
            asked += 1;
            if asked == 1 {
                on_stop();
                let _ = stop_sender.send(true);
            } else {
                on_cancel();
                on_signal.store(true, Ordering::SeqCst);
            }
        }
    });
    Ok(Stopping {
        stop,
        cancel,
        listener,
    })
}

fn register(kind: SignalKind) -> Result<Signal, Error> {
    signal(kind).map_err(|e| Error::failed(format!("cannot listen for signals: {e}")))
}
