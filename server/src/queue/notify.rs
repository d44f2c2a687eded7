//! Notifications (`[[notify]]`): every job that succeeds or fails, every batch that finishes
//! and every time the queue drains becomes an event with an id (`ev_<n>`, never reused); for
//! each receiver that asked for it, a JSON POST waits in the durable outbox, written in the
//! same transaction as the change it tells of (so an acknowledged change's events survive a
//! crash), and is removed once the receiver answered 2xx. Delivery is at least once: a crash
//! after a 2xx and before the removal sends it again, with the same id
//! (`X-Cosmosq-Delivery`), so receivers drop duplicates. With a `secret` the body is signed:
//! `X-Cosmosq-Signature: sha256=<hex HMAC-SHA256(secret, body)>`. A receiver that fails is
//! retried with backoff (1 s, doubling to 5 min); the others go on.

use super::state::State;
use super::Queue;
use crate::config::Config;
use crate::ids;
use crate::store::{Change, Outgoing};
use cosmosq_shared::api::{BatchStatus, JobStatus};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// HMAC-SHA256 (RFC 2104) of `body` with `key`, hex.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut k = if key.len() > BLOCK {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(BLOCK, 0);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(body)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Extend `change` with the outbox entries of the events it makes.
pub(super) fn enqueue(state: &State, change: &mut Change, config: &Config) {
    if config.notify.is_empty() || state.meta.is_none() {
        return;
    }
    let mut events: Vec<(&str, Value)> = Vec::new();
    let mut counts = state.counts;
    for r in &change.jobs {
        let old = state.jobs.get(&r.job.id).map(|o| o.job.status);
        if let Some(o) = old {
            *counts.get_mut(o) -= 1;
        }
        *counts.get_mut(r.job.status) += 1;
        if old == Some(r.job.status) {
            continue;
        }
        match r.job.status {
            JobStatus::Succeeded => events.push(("job.succeeded", json!({"job": r.job}))),
            JobStatus::Failed => events.push(("job.failed", json!({"job": r.job}))),
            _ => {}
        }
    }
    for id in &change.removed_jobs {
        if let Some(o) = state.jobs.get(id) {
            *counts.get_mut(o.job.status) -= 1;
        }
    }
    for b in &change.batches {
        let was_done = state
            .batches
            .get(&b.batch.id)
            .is_some_and(|o| o.batch.status.is_terminal());
        if b.batch.status.is_terminal() && !was_done && b.batch.status != BatchStatus::Pending {
            events.push(("batch.finished", json!({"batch": b.batch})));
        }
    }
    let busy = |c: &cosmosq_shared::api::JobCounts| c.queued + c.running > 0;
    if busy(&state.counts) && !busy(&counts) {
        events.push(("queue.drained", json!({"counts": counts})));
    }
    if events.is_empty() {
        return;
    }
    let mut meta = change.meta.clone().unwrap_or_else(|| state.meta().clone());
    let at = ids::now();
    for (event, mut payload) in events {
        let seq = meta.next_event_seq;
        meta.next_event_seq += 1;
        let id = format!("ev_{seq:012}");
        payload["id"] = json!(id);
        payload["event"] = json!(event);
        payload["at"] = json!(at);
        let body = payload.to_string();
        for (i, receiver) in config.notify.iter().enumerate() {
            if !receiver.events.iter().any(|e| e == event) {
                continue;
            }
            let key = format!("{seq:020}-{i:03}");
            let out = Outgoing {
                key: key.clone(),
                id: id.clone(),
                event: event.to_string(),
                receiver: i,
                url: receiver.url.clone(),
                body: body.clone(),
            };
            change.outbox.push((key, Some(out)));
        }
    }
    change.meta = Some(meta);
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// POST one notification; whether the receiver took it (2xx).
fn send(agent: &ureq::Agent, config: &Config, out: &Outgoing) -> Result<(), String> {
    let mut request = agent
        .post(&out.url)
        .header("Content-Type", "application/json")
        .header("X-Cosmosq-Event", &out.event)
        .header("X-Cosmosq-Delivery", &out.id);
    if let Some(secret) = config
        .notify
        .get(out.receiver)
        .and_then(|r| r.secret.as_deref())
    {
        let sig = format!(
            "sha256={}",
            signature(secret.as_bytes(), out.body.as_bytes())
        );
        request = request.header("X-Cosmosq-Signature", sig);
    }
    match request.send(out.body.as_bytes()) {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}

/// Deliver the outbox until the queue stops.
pub async fn deliver_loop(queue: Arc<Queue>) {
    if queue.config.notify.is_empty() {
        return;
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    // Per entry: failed attempts and when to try again (in memory: a restart retries at once).
    let mut retry: HashMap<String, (u32, Instant)> = HashMap::new();
    while !queue.is_stopping() {
        let due: Vec<Outgoing> = {
            let state = queue.lock();
            let now = Instant::now();
            state
                .notify_outbox
                .values()
                .filter(|o| retry.get(&o.key).is_none_or(|(_, at)| *at <= now))
                .take(64)
                .cloned()
                .collect()
        };
        if due.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        // Only what is on disk goes out: an event never tells of a change a crash would undo.
        let q = queue.clone();
        if !matches!(
            tokio::task::spawn_blocking(move || q.settle()).await,
            Ok(Ok(()))
        ) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        for out in due {
            let (q, a) = (queue.clone(), agent.clone());
            let sent = {
                let out = out.clone();
                tokio::task::spawn_blocking(move || send(&a, &q.config, &out)).await
            };
            match sent {
                Ok(Ok(())) => {
                    retry.remove(&out.key);
                    let key = out.key.clone();
                    let q = queue.clone();
                    let done = tokio::task::spawn_blocking(move || {
                        q.mutate(|_, change| {
                            change.outbox.push((key, None));
                            Ok(())
                        })
                    })
                    .await;
                    if let Ok(Err(e)) = done {
                        tracing::error!(error = %e, "could not record a delivered notification");
                    }
                }
                Ok(Err(e)) => {
                    let (n, _) = retry.get(&out.key).copied().unwrap_or((0, Instant::now()));
                    let wait = FIRST_BACKOFF.saturating_mul(1 << n.min(9)).min(MAX_BACKOFF);
                    if n == 0 {
                        tracing::warn!(url = %out.url, event = %out.event, id = %out.id, "a notification was not delivered ({e}); retrying with backoff");
                    }
                    retry.insert(out.key.clone(), (n + 1, Instant::now() + wait));
                }
                Err(e) => tracing::error!("notification task failed: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            super::signature(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than the block is hashed first (test case 6).
        let key = [0xaau8; 131];
        assert_eq!(
            super::signature(
                &key,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
