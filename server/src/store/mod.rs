//! The only module that touches sled. Every change is one transaction over the trees it
//! touches ([`Store::write`]); [`Store::flush`] makes every change written before it durable
//! (the queue flushes before it acknowledges a change, sharing one flush between concurrent
//! changes), so an acknowledged change survives `kill -9`. [`Store::commit`] does both. Records are JSON in a versioned envelope so later formats can migrate them.

use cosmosq_shared::api::{Batch, Job, Prompt, QueueSettings};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use std::path::Path;

/// Version of every record written now.
const RECORD_VERSION: u32 = 1;
const META_KEY: &[u8] = b"queue";

#[derive(Debug, thiserror::Error)]
#[error("storage error: {0}")]
pub struct StoreError(pub String);

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError(e.to_string())
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    data: T,
}

/// A job plus its place in the queue order (kept while it runs, so it can go back there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job: Job,
    pub order: u64,
}

/// A batch plus its place in the run order: pending batches run by `(seq, sub)`; the parts
/// of a batch split after running out of memory keep its `seq` with a higher `sub`, so they
/// run next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub batch: Batch,
    pub seq: u64,
    #[serde(default)]
    pub sub: u32,
}

impl BatchRecord {
    pub fn run_order(&self) -> (u64, u32) {
        (self.seq, self.sub)
    }
}

/// Queue-wide state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub settings: QueueSettings,
    pub paused: bool,
    pub paused_reason: Option<String>,
    /// Next queue-order key to hand out (keys are spaced so moves rarely renumber).
    pub next_order: u64,
    pub next_batch_seq: u64,
    /// Set on graceful shutdown, cleared on start: false at start means the last run crashed.
    pub clean_shutdown: bool,
    /// The cost model last refitted from measured batches (informational: at start the daemon
    /// refits from the recorded batches of its current profile).
    #[serde(default)]
    pub fitted_cost_model: Option<cosmosq_shared::CostModel>,
}

/// Everything in the store, read at start-up.
pub struct Snapshot {
    pub prompts: Vec<Prompt>,
    pub jobs: Vec<JobRecord>,
    pub batches: Vec<BatchRecord>,
    pub meta: Option<Meta>,
}

/// A set of writes applied atomically by [`Store::commit`]; `None` deletes.
#[derive(Default)]
pub struct Change {
    pub prompts: Vec<(String, Option<Prompt>)>,
    pub jobs: Vec<JobRecord>,
    pub batches: Vec<BatchRecord>,
    pub meta: Option<Meta>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
            && self.jobs.is_empty()
            && self.batches.is_empty()
            && self.meta.is_none()
    }
}

pub struct Store {
    db: sled::Db,
    prompts: sled::Tree,
    jobs: sled::Tree,
    batches: sled::Tree,
    meta: sled::Tree,
}

fn encode<T: Serialize>(data: &T) -> Vec<u8> {
    serde_json::to_vec(&Envelope {
        v: RECORD_VERSION,
        data,
    })
    .expect("records always serialise")
}

fn decode<T: DeserializeOwned>(tree: &str, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let unreadable = |e: serde_json::Error| {
        StoreError(format!(
            "unreadable record {tree}/{}: {e}",
            String::from_utf8_lossy(key)
        ))
    };
    // Read the version first (skipping the data without building it), so a record of
    // another format is reported as such; then decode the data straight into `T` (through a
    // `serde_json::Value` this took about twice as long at start-up).
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let version: Version = serde_json::from_slice(bytes).map_err(unreadable)?;
    if version.v != RECORD_VERSION {
        return Err(StoreError(format!(
            "record {tree}/{} has format version {}, this build reads {RECORD_VERSION}",
            String::from_utf8_lossy(key),
            version.v
        )));
    }
    let envelope: Envelope<T> = serde_json::from_slice(bytes).map_err(unreadable)?;
    Ok(envelope.data)
}

fn put(
    tree: &TransactionalTree,
    key: &str,
    value: Option<Vec<u8>>,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    match value {
        Some(v) => tree.insert(key.as_bytes(), v)?,
        None => tree.remove(key.as_bytes())?,
    };
    Ok(())
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        let db = sled::Config::new().path(dir.join("db")).open()?;
        Ok(Store {
            prompts: db.open_tree("prompts")?,
            jobs: db.open_tree("jobs")?,
            batches: db.open_tree("batches")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }

    fn read_tree<T: DeserializeOwned>(tree: &sled::Tree, name: &str) -> Result<Vec<T>, StoreError> {
        tree.iter()
            .map(|kv| {
                let (k, v) = kv?;
                decode(name, &k, &v)
            })
            .collect()
    }

    pub fn load(&self) -> Result<Snapshot, StoreError> {
        let meta = match self.meta.get(META_KEY)? {
            Some(bytes) => Some(decode("meta", META_KEY, &bytes)?),
            None => None,
        };
        Ok(Snapshot {
            prompts: Self::read_tree(&self.prompts, "prompts")?,
            jobs: Self::read_tree(&self.jobs, "jobs")?,
            batches: Self::read_tree(&self.batches, "batches")?,
            meta,
        })
    }

    /// Apply `change` in one transaction and flush it to disk.
    pub fn commit(&self, change: &Change) -> Result<(), StoreError> {
        self.write(change)?;
        self.flush()
    }

    /// Make every change written so far durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Apply `change` in one transaction, not yet flushed: it is durable after the next
    /// [`Store::flush`] that starts after this returns.
    pub fn write(&self, change: &Change) -> Result<(), StoreError> {
        if change.is_empty() {
            return Ok(());
        }
        let prompts: Vec<(&str, Option<Vec<u8>>)> = change
            .prompts
            .iter()
            .map(|(id, p)| (id.as_str(), p.as_ref().map(encode)))
            .collect();
        let jobs: Vec<(&str, Vec<u8>)> = change
            .jobs
            .iter()
            .map(|r| (r.job.id.as_str(), encode(r)))
            .collect();
        let batches: Vec<(&str, Vec<u8>)> = change
            .batches
            .iter()
            .map(|r| (r.batch.id.as_str(), encode(r)))
            .collect();
        let meta = change.meta.as_ref().map(encode);
        (&self.prompts, &self.jobs, &self.batches, &self.meta)
            .transaction(|(tp, tj, tb, tm)| {
                for (id, value) in &prompts {
                    put(tp, id, value.clone())?;
                }
                for (id, value) in &jobs {
                    put(tj, id, Some(value.clone()))?;
                }
                for (id, value) in &batches {
                    put(tb, id, Some(value.clone()))?;
                }
                if let Some(m) = &meta {
                    tm.insert(META_KEY, m.clone())?;
                }
                Ok(())
            })
            .map_err(|e: TransactionError<StoreError>| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => e.into(),
            })?;
        Ok(())
    }

    /// Bytes the database takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmosq_shared::api::{JobOutputs, JobStatus};
    use cosmosq_shared::{JobConfig, JobKind};

    fn job(id: &str) -> JobRecord {
        JobRecord {
            job: Job {
                id: id.into(),
                prompt_id: "ps_1".into(),
                kind: JobKind::Inference,
                config: JobConfig::default(),
                status: JobStatus::Queued,
                position: None,
                attempts: 0,
                created_at: "2026-01-01T00:00:00.000Z".into(),
                started_at: None,
                finished_at: None,
                batch_id: None,
                outputs: JobOutputs::default(),
                error: None,
            },
            order: 7,
        }
    }

    #[test]
    fn committed_changes_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let change = Change {
                jobs: vec![job("jb_a"), job("jb_b")],
                ..Change::default()
            };
            store.commit(&change).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let snap = store.load().unwrap();
        assert_eq!(snap.jobs.len(), 2);
        assert_eq!(snap.jobs[0], job("jb_a"));
        assert!(snap.meta.is_none());
    }

    #[test]
    fn records_of_another_version_are_refused_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .jobs
            .insert(b"jb_x", br#"{"v": 99, "data": {}}"#.to_vec())
            .unwrap();
        let err = store.load().err().expect("version 99 is refused");
        assert!(err.0.contains("format version 99"), "{}", err.0);
    }
}
