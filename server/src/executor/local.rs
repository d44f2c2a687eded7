//! The local launcher: the program runs as a child process of the daemon (optionally through
//! a slot's prefix: `ssh`, `docker run`, ...), in its own process group. Its handle is the
//! group's leader; a daemon killed with SIGKILL cannot keep watching its children, so the
//! next start stops them (see `leftovers`, the local launcher's reattach) and their jobs go
//! back to the queue.

use super::cosmos::{Launch, Launcher};
use super::process::{self, Ended, Spawned};
use super::{BoxFuture, Handle, Progress};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Programs started and not yet watched, by batch id.
#[derive(Default)]
pub struct Local {
    started: Mutex<HashMap<String, Spawned>>,
}

impl Launcher for Local {
    fn submit<'a>(&'a self, run: &'a Launch) -> BoxFuture<'a, Result<Handle, String>> {
        Box::pin(async move {
            let spawned = process::spawn(run)?;
            let handle = Handle::Local {
                pid: spawned.pid,
                started: super::leftovers::start_time(spawned.pid).unwrap_or(0),
            };
            self.started
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(run.batch_id.clone(), spawned);
            Ok(handle)
        })
    }

    fn watch<'a>(
        &'a self,
        run: &'a Launch,
        _handle: Option<&'a Handle>,
        cancel: &'a CancellationToken,
        progress: &'a dyn Progress,
        step: &'a (dyn Fn(&str) -> Option<f64> + Sync),
    ) -> BoxFuture<'a, (Ended, Option<f64>)> {
        Box::pin(async move {
            let spawned = self
                .started
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&run.batch_id);
            match spawned {
                Some(spawned) => {
                    let (ended, seconds) =
                        process::watch(spawned, run, cancel, progress, step).await;
                    (ended, Some(seconds))
                }
                // A local program is never adopted (its output pipes died with the daemon
                // that started it).
                None => (
                    Ended {
                        spawn_error: Some("the program was not started by this daemon".into()),
                        ..Ended::default()
                    },
                    None,
                ),
            }
        })
    }

    fn outlives_daemon(&self) -> bool {
        false
    }
}
