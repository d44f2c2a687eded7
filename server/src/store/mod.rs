//! The only module that touches sled. Every change is one transaction over the trees it
//! touches ([`Store::write`]); [`Store::flush`] makes every change written before it durable
//! (the queue flushes before it acknowledges a change, sharing one flush between concurrent
//! changes), so an acknowledged change survives `kill -9` and power loss. Records are JSON in
//! a versioned envelope so later formats can migrate them.
//!
//! **Durability, for real.** sled 0.34's own flush ends in `sync_file_range(2)`, which writes
//! the log's pages but neither the file's metadata (its growing size) nor a cache flush to the
//! device; its real `fsync` comes from a background thread up to 500 ms later. So the store
//! turns that thread off and, after every sled flush, calls `fdatasync(2)` on the log file
//! itself (through a descriptor of its own: fsync works on the file, whichever descriptor
//! names it). The directories that hold the files are fsynced once at open, so the files'
//! names are durable too.
//!
//! **No blob files.** sled writes a log message larger than a quarter of its segment as a
//! separate blob file (`db/blobs/<lsn>`) and never fsyncs it. A message is at most one
//! consolidated tree node: 17 records (a leaf splits beyond 16). The largest record the daemon
//! writes is a prompt within its input limits (10,000 + 10,000 characters of at most 4 bytes,
//! 8 paths of at most 4 KiB: under 120 KiB), so a node stays under 2.1 MiB. New databases use
//! 16 MiB segments (blob threshold 4 MiB), so no blob is ever written
//! (`store::tests::the_largest_records_never_become_blob_files`). sled cannot change the
//! segment size of an existing database: one created with its default 512 KiB keeps it, and
//! there the store fsyncs any blob file (and the blob directory) before each flush.

use cosmosq_shared::api::{Batch, Job, Prompt, QueueSettings};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Version of every record written now.
const RECORD_VERSION: u32 = 1;
const META_KEY: &[u8] = b"queue";
/// sled's log segment size for new databases (sled's largest): messages above a quarter of it
/// would become blob files (see the module docs).
const SEGMENT_SIZE: usize = 16 << 20;

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
    /// What names the submitted batch to its launcher (a pid, a Slurm job id), recorded
    /// before the batch is watched so that the next start can find it.
    #[serde(default)]
    pub handle: Option<crate::executor::Handle>,
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
    /// Named run settings, by name (at most `MAX_PRESETS`).
    #[serde(default)]
    pub presets: std::collections::BTreeMap<String, cosmosq_shared::api::Preset>,
    /// The next notification event's number (event ids `ev_<n>` never repeat).
    #[serde(default)]
    pub next_event_seq: u64,
    /// Executor slots' service state and health, by name (a slot never changed is absent).
    #[serde(default)]
    pub slots: std::collections::BTreeMap<String, SlotRecord>,
}

/// Whether an executor slot takes work, as set by an operator or by quarantine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotAdmin {
    #[default]
    Enabled,
    /// Finish the current batch, take no other (then shown as disabled).
    Draining,
    Disabled,
    Quarantined,
}

/// An executor slot's stored state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub admin: SlotAdmin,
    /// Batches in a row that failed for a cause of the slot.
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub changed_at: Option<String>,
}

/// Everything in the store, read at start-up.
pub struct Snapshot {
    pub prompts: Vec<Prompt>,
    pub jobs: Vec<JobRecord>,
    pub batches: Vec<BatchRecord>,
    pub meta: Option<Meta>,
    pub outbox: Vec<Outgoing>,
}

/// A notification waiting for delivery to one receiver (`[[notify]]`): written in the same
/// transaction as the change it tells of, removed once the receiver answered 2xx.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    /// `<event seq, 20 digits>-<receiver index>`: delivery order.
    pub key: String,
    /// The event's id (`ev_...`), the same for every receiver: receivers drop duplicates by it.
    pub id: String,
    pub event: String,
    /// Index of the receiver in `[[notify]]` (its url at the time, for the log).
    pub receiver: usize,
    pub url: String,
    /// The JSON body, signed as sent.
    pub body: String,
}

/// A set of writes applied atomically by [`Store::write`]; `None` deletes.
#[derive(Default)]
pub struct Change {
    pub prompts: Vec<(String, Option<Prompt>)>,
    pub jobs: Vec<JobRecord>,
    /// Jobs deleted (finished ones a user or the retention removed).
    pub removed_jobs: Vec<String>,
    pub batches: Vec<BatchRecord>,
    pub meta: Option<Meta>,
    /// Notifications to deliver (`Some`) or delivered (`None`), by key.
    pub outbox: Vec<(String, Option<Outgoing>)>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.outbox.is_empty()
            && self.prompts.is_empty()
            && self.jobs.is_empty()
            && self.removed_jobs.is_empty()
            && self.batches.is_empty()
            && self.meta.is_none()
    }
}

/// The daemon's durable state: prompts, jobs, batches and the queue's settings in sled.
pub struct Store {
    db: sled::Db,
    prompts: sled::Tree,
    jobs: sled::Tree,
    batches: sled::Tree,
    meta: sled::Tree,
    outbox: sled::Tree,
    /// sled's log file (`db/db`), opened again to fdatasync it after each sled flush.
    log: File,
    /// `db/blobs` and the blob files already fsynced (see the module docs).
    blobs: PathBuf,
    synced_blobs: Mutex<HashSet<std::ffi::OsString>>,
    /// Tests make flushes fail with this (a disk that stopped taking writes).
    #[cfg(test)]
    pub(crate) fail_flushes: std::sync::atomic::AtomicBool,
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

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError(format!("cannot {what} {}: {e}", path.display()))
}

/// fsync a directory, so the names of the files created in it are durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("fsync", dir, e))
}

/// The segment size an existing sled database was created with (sled refuses another), read
/// from its `conf` file; `None` for a new database.
fn existing_segment_size(db_dir: &Path) -> Result<Option<usize>, StoreError> {
    let conf = db_dir.join("conf");
    // Text lines, then a 4-byte checksum.
    let text = match std::fs::read(&conf) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", &conf, e)),
    };
    let size = text
        .lines()
        .find_map(|l| l.strip_prefix("segment_size: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| StoreError(format!("{} names no segment_size", conf.display())))?;
    Ok(Some(size))
}

impl Store {
    /// Open (or create) the store in `dir/db`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        let db_dir = dir.join("db");
        let segment_size = existing_segment_size(&db_dir)?.unwrap_or(SEGMENT_SIZE);
        let db = sled::Config::new()
            .path(&db_dir)
            .segment_size(segment_size)
            // Every acknowledged change is flushed and fdatasynced by the queue; sled's own
            // flusher thread would only add an fsync of its own schedule.
            .flush_every_ms(None)
            .open()?;
        let log_path = db_dir.join("db");
        let log = File::open(&log_path).map_err(|e| io_error("open", &log_path, e))?;
        let blobs = db_dir.join("blobs");
        for d in [dir, db_dir.as_path(), blobs.as_path()] {
            sync_dir(d)?;
        }
        for f in [&log_path, &db_dir.join("conf")] {
            File::open(f)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error("fsync", f, e))?;
        }
        let store = Store {
            prompts: db.open_tree("prompts")?,
            jobs: db.open_tree("jobs")?,
            batches: db.open_tree("batches")?,
            meta: db.open_tree("meta")?,
            outbox: db.open_tree("outbox")?,
            db,
            log,
            blobs,
            synced_blobs: Mutex::new(HashSet::new()),
            #[cfg(test)]
            fail_flushes: Default::default(),
        };
        // Opening the trees writes to the log (a new database names them there).
        store.flush()?;
        Ok(store)
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
            outbox: Self::read_tree(&self.outbox, "outbox")?,
        })
    }

    /// Make every change written so far durable: blob files first (only in databases made
    /// with small segments), then sled's flush of its log, then fdatasync of the log file.
    pub fn flush(&self) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.fail_flushes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError("No space left on device (os error 28)".into()));
        }
        self.sync_blobs()?;
        self.db.flush()?;
        self.log
            .sync_data()
            .map_err(|e| StoreError(format!("cannot fdatasync the store's log: {e}")))
    }

    /// fsync blob files not synced yet, and their directory when any was new.
    fn sync_blobs(&self) -> Result<(), StoreError> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("list", &self.blobs, e)),
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut present = HashSet::new();
        let mut new = false;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("list", &self.blobs, e))?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                let path = entry.path();
                match File::open(&path).and_then(|f| f.sync_all()) {
                    Ok(()) => new = true,
                    // sled removed it meanwhile: nothing to make durable.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error("fsync", &path, e)),
                }
            }
            present.insert(name);
        }
        if new {
            sync_dir(&self.blobs)?;
        }
        *synced = present;
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
        let outbox: Vec<(&str, Option<Vec<u8>>)> = change
            .outbox
            .iter()
            .map(|(k, o)| (k.as_str(), o.as_ref().map(encode)))
            .collect();
        (
            &self.prompts,
            &self.jobs,
            &self.batches,
            &self.meta,
            &self.outbox,
        )
            .transaction(|(tp, tj, tb, tm, to)| {
                for (key, value) in &outbox {
                    put(to, key, value.clone())?;
                }
                for (id, value) in &prompts {
                    put(tp, id, value.clone())?;
                }
                for (id, value) in &jobs {
                    put(tj, id, Some(value.clone()))?;
                }
                for id in &change.removed_jobs {
                    put(tj, id, None)?;
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
                effective_weights: Default::default(),
                status: JobStatus::Queued,
                position: None,
                attempts: 0,
                created_at: "2026-01-01T00:00:00.000Z".into(),
                started_at: None,
                finished_at: None,
                batch_id: None,
                outputs: JobOutputs::default(),
                error: None,
                after: Vec::new(),
                waiting_for: Vec::new(),
                input_from: None,
                pinned: false,
                pruned: false,
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
            store.write(&change).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let snap = store.load().unwrap();
        assert_eq!(snap.jobs.len(), 2);
        assert_eq!(snap.jobs[0], job("jb_a"));
        assert!(snap.meta.is_none());
    }

    /// A prompt as large as the API's limits allow (see `queue::jobs`): 10,000-character text
    /// and negative prompt of 4-byte characters, a 200-character name, 8 paths of 4 KiB.
    fn largest_prompt(i: usize) -> Prompt {
        let long = "🤖".repeat(10_000);
        let path = |c: &str| format!("/{}/{c}-{i}.mp4", "p".repeat(4_000));
        Prompt {
            id: format!("ps_{i:04}"),
            name: "é".repeat(200),
            text: long.clone(),
            negative_prompt: Some(long),
            input_video: path("input"),
            video: cosmosq_shared::api::VideoInfo {
                frames: 121,
                fps: 24.0,
                width: 1280,
                height: 704,
                aspect_bucket: cosmosq_shared::AspectBucket::default(),
            },
            control_videos: cosmosq_shared::Control::ALL
                .into_iter()
                .map(|c| (c, path(c.as_str())))
                .collect(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn blob_files(dir: &Path) -> usize {
        std::fs::read_dir(dir.join("db/blobs"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    #[test]
    fn the_largest_records_never_become_blob_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(encode(&largest_prompt(0)).len() < 120 << 10);
        // 50 prompts: several full leaves of 17 records each, written one change at a time
        // and all at once.
        for i in 0..25 {
            let change = Change {
                prompts: vec![(format!("ps_{i:04}"), Some(largest_prompt(i)))],
                ..Change::default()
            };
            store.write(&change).unwrap();
        }
        let change = Change {
            prompts: (25..50)
                .map(|i| (format!("ps_{i:04}"), Some(largest_prompt(i))))
                .collect(),
            ..Change::default()
        };
        store.write(&change).unwrap();
        store.flush().unwrap();
        assert_eq!(blob_files(dir.path()), 0, "sled wrote blob files");
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap().prompts.len(), 50);
    }

    #[test]
    fn a_database_with_small_segments_keeps_them_and_its_blobs_are_synced() {
        let dir = tempfile::tempdir().unwrap();
        // As the daemon created databases before it chose the segment size: sled's default.
        drop(sled::open(dir.path().join("db")).unwrap());
        let store = Store::open(dir.path()).unwrap();
        let change = Change {
            prompts: (0..20)
                .map(|i| (format!("ps_{i:04}"), Some(largest_prompt(i))))
                .collect(),
            ..Change::default()
        };
        store.write(&change).unwrap();
        store.flush().unwrap();
        let blobs = blob_files(dir.path());
        assert!(
            blobs > 0,
            "a 512 KiB-segment database writes large nodes as blobs"
        );
        assert_eq!(store.synced_blobs.lock().unwrap().len(), blobs);
        drop(store);
        assert_eq!(
            Store::open(dir.path())
                .unwrap()
                .load()
                .unwrap()
                .prompts
                .len(),
            20
        );
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
