//! Configuration: a TOML file, overridden by `COSMOSQ_*` environment variables (`env`),
//! overridden by command-line flags; checked as a whole at start (`validate`). Every key is
//! documented in the README.

mod env;
mod validate;

/// The environment variable that names a run's batch directory: every program the daemon
/// starts inherits it (see `executor::leftovers`); it is not a configuration key.
pub const BATCH_DIR_VAR: &str = "COSMOSQ_BATCH_DIR";

use cosmosq_shared::api::QueueSettings;
use cosmosq_shared::{CostModel, Profile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The daemon's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Non-loopback addresses need `auth_token`.
    pub bind: String,
    /// Where the sled database, batch directories and outputs live.
    pub data_dir: PathBuf,
    /// When set, every `/api` request needs `Authorization: Bearer <token>`.
    pub auth_token: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// On SIGTERM, how long running batches may take to finish before their jobs go back.
    pub shutdown_grace_seconds: u64,
    /// When non-empty, input and control videos must lie under one of these directories.
    pub allowed_roots: Vec<PathBuf>,
    /// The `ffprobe` program used to read video facts.
    pub ffprobe: String,
    /// Where the built SPA lives (served at `/`); unset = `dist/` beside the working directory.
    pub spa_dir: Option<PathBuf>,
    /// Most event-stream clients (`GET /api/v1/events`) at once; more get 429.
    pub max_event_streams: usize,
    /// `ffprobe` is stopped after this long (a file that takes longer is refused).
    pub probe_timeout_seconds: f64,
    pub queue: QueueConfig,
    pub executor: ExecutorConfig,
    /// What happens to finished jobs' outputs over time.
    pub retention: RetentionConfig,
    /// Webhooks (`[[notify]]`): a signed JSON POST per event, at least once.
    pub notify: Vec<NotifyConfig>,
    /// Cost-model parameters (see `cosmosq_shared::cost`); omitted ones keep the defaults.
    pub cost_model: CostModel,
}

/// One `[[notify]]` receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `http://host:port/path` (plain HTTP: put a TLS proxy in front for another host).
    pub url: String,
    /// Among `job.succeeded`, `job.failed`, `batch.finished`, `queue.drained`; default all.
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    /// When set, each body is signed: `X-Cosmosq-Signature: sha256=<hex HMAC-SHA256>`.
    #[serde(default)]
    pub secret: Option<String>,
}

/// The events a receiver can ask for.
pub const NOTIFY_EVENTS: [&str; 4] = [
    "job.succeeded",
    "job.failed",
    "batch.finished",
    "queue.drained",
];

fn all_events() -> Vec<String> {
    NOTIFY_EVENTS.iter().map(|e| e.to_string()).collect()
}

/// `[retention]`: finished, unpinned jobs' output files are removed (the job stays, marked
/// `pruned`) once older than `keep_days`, and the oldest first while all outputs take more
/// than `max_output_bytes`. Unset = kept forever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    pub keep_days: Option<f64>,
    pub max_output_bytes: Option<u64>,
    /// How often the retention runs, in seconds.
    pub check_seconds: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            keep_days: None,
            max_output_bytes: None,
            check_seconds: 60.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Initial settings; once changed over the API the stored settings win.
    pub max_batch_size: u32,
    pub mix_controls: bool,
    pub auto_batch: bool,
    /// A job started this many times (crashes included) is failed instead of retried.
    pub max_attempts: u32,
    /// Most jobs that may wait in the queue at once.
    pub max_queued_jobs: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// `simulated` (no GPU), `cosmos-transfer1` or `cosmos-transfer2.5`.
    pub profile: Profile,
    /// Wall seconds per cost-model second: the simulated executor sleeps estimate × this; for
    /// the Cosmos profiles measured seconds are divided by it before refitting and the time
    /// limit is scaled by it. Default: 0.002 for `simulated`, 1 for the Cosmos profiles.
    pub time_scale: f64,
    /// Executor slots: a count of identical slots, or a list (`[[executor.slots]]`), e.g. one
    /// per GPU (`env = { CUDA_VISIBLE_DEVICES = "1" }`) or host (`prefix = ["ssh", "gpu2"]`).
    pub slots: Slots,
    /// The argv that launches the Cosmos program; the daemon appends every flag itself.
    /// Default: `torchrun --nproc_per_node {num_gpus} cosmos_transfer1/diffusion/inference/transfer.py`
    /// (transfer1) or `python examples/inference.py` (transfer2.5).
    pub command: Option<Vec<String>>,
    /// Working directory of the program (the Cosmos checkout).
    pub workdir: Option<PathBuf>,
    /// Extra environment of the program (every slot).
    pub env: BTreeMap<String, String>,
    /// Transfer1 `--checkpoint_dir`.
    pub checkpoint_dir: String,
    /// Transfer1 `--num_gpus` (context parallelism).
    pub num_gpus: u32,
    /// Extra arguments appended after the daemon's flags (e.g. `--offload_guardrail_models`).
    pub extra_args: Vec<String>,
    /// A batch is stopped after max(timeout_min_seconds, estimate × time_scale × timeout_factor).
    pub timeout_factor: f64,
    pub timeout_min_seconds: f64,
    /// After SIGTERM, how long a stopping program may take before SIGKILL.
    pub cancel_grace_seconds: f64,
    /// Refit the cost model from measured batch durations (default: on for the Cosmos
    /// profiles, off for `simulated`, whose durations are the model's own estimates).
    pub refit: Option<bool>,
    /// The run log of a batch stops growing at this many bytes (local launcher; under Slurm
    /// the job writes its own log).
    pub max_log_bytes: u64,
    /// Where the Cosmos programs run: `local` (default: a child process per batch, one per
    /// slot at once) or `slurm` (one `sbatch` job per batch; see `[executor.slurm]`).
    pub launcher: LauncherKind,
    /// The Slurm launcher's settings (`launcher = "slurm"`).
    pub slurm: SlurmConfig,
    /// A running batch whose program prints nothing for this many seconds is stopped as
    /// `stalled` (its jobs go back with the attempt counted); unset = never.
    pub stall_seconds: Option<f64>,
    /// A slot whose batches fail this many times in a row for a cause of the slot (the
    /// program could not start, the wrapper failed, the program died without a CUDA or job
    /// error) is quarantined: it takes no work until enabled. 0 = never.
    pub quarantine_after: u32,
}

/// Where the Cosmos programs run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LauncherKind {
    #[default]
    Local,
    Slurm,
}

impl LauncherKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LauncherKind::Local => "local",
            LauncherKind::Slurm => "slurm",
        }
    }
}

/// `[executor.slurm]`: how batches are submitted to a Slurm cluster. The data directory and
/// every video must be visible at the same paths on the compute nodes (a shared filesystem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--partition` of every batch; unset = the cluster's default partition.
    pub partition: Option<String>,
    /// `--gres` of every batch; unset = `gpu:{num_gpus}`.
    pub gres: Option<String>,
    /// Batches submitted at once (the cluster's slots; replaces `executor.slots`).
    pub max_jobs: usize,
    /// Appended to every `sbatch` command as given (e.g. `["--qos", "normal"]`).
    pub sbatch_args: Vec<String>,
    /// How often a submitted batch's state is polled (`scontrol show job`), in seconds.
    pub poll_seconds: f64,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        SlurmConfig {
            partition: None,
            gres: None,
            max_jobs: 4,
            sbatch_args: Vec::new(),
            poll_seconds: 2.0,
        }
    }
}

/// How many batches may run at once, and how each slot launches its program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Slots {
    Count(usize),
    List(Vec<SlotConfig>),
}

/// One executor slot: a GPU or a host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlotConfig {
    pub name: Option<String>,
    /// Added to the program's environment (e.g. `CUDA_VISIBLE_DEVICES`).
    pub env: BTreeMap<String, String>,
    /// Put in front of the command (e.g. `["ssh", "gpu2"]` or a `docker run ...` argv).
    pub prefix: Vec<String>,
    /// The prefix hands the rest of the argv to a shell on another machine, as `ssh` does:
    /// quote every token after the prefix for that shell, so prompt text and paths reach the
    /// program verbatim there too.
    pub remote_shell: bool,
    /// Run (same template variables as `prefix`) when the daemon stops a batch of this slot:
    /// on cancel, timeout and shutdown, and at the next start for a batch a killed daemon
    /// left running, so a wrapped program (a container, a remote process) never outlives
    /// its batch. E.g. `["docker", "stop", "cosmosq-{batch_id}"]`.
    pub stop: Vec<String>,
}

impl Slots {
    /// The slots, each with a name (`slot0`, `slot1`, ... unless named).
    pub fn list(&self) -> Vec<SlotConfig> {
        let mut list = match self {
            Slots::Count(n) => vec![SlotConfig::default(); *n],
            Slots::List(l) => l.clone(),
        };
        for (i, slot) in list.iter_mut().enumerate() {
            slot.name.get_or_insert_with(|| format!("slot{i}"));
        }
        list
    }

    pub fn len(&self) -> usize {
        match self {
            Slots::Count(n) => *n,
            Slots::List(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ExecutorConfig {
    /// Under Slurm the slots are the `max_jobs` batches submitted at once (`slurm0`, ...):
    /// the cluster decides where each runs.
    pub fn apply_launcher(&mut self) {
        if self.launcher == LauncherKind::Slurm {
            self.slots = Slots::List(
                (0..self.slurm.max_jobs)
                    .map(|i| SlotConfig {
                        name: Some(format!("slurm{i}")),
                        ..SlotConfig::default()
                    })
                    .collect(),
            );
        }
    }

    /// The `--gres` of a Slurm batch.
    pub fn slurm_gres(&self) -> String {
        self.slurm
            .gres
            .clone()
            .unwrap_or_else(|| format!("gpu:{}", self.num_gpus))
    }

    pub fn refit_enabled(&self) -> bool {
        self.refit.unwrap_or(self.profile.is_cosmos())
    }

    /// The argv that launches the program, before the daemon's flags.
    pub fn command(&self) -> Vec<String> {
        if let Some(c) = &self.command {
            return c.clone();
        }
        let default: &[&str] = match self.profile {
            Profile::Transfer25 => &["python", "examples/inference.py"],
            Profile::Simulated | Profile::Transfer1 => &[
                "torchrun",
                "--nproc_per_node",
                "{num_gpus}",
                "cosmos_transfer1/diffusion/inference/transfer.py",
            ],
        };
        default.iter().map(|s| s.to_string()).collect()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8787".into(),
            data_dir: PathBuf::from("cosmosq-data"),
            auth_token: None,
            max_body_bytes: 1 << 20,
            shutdown_grace_seconds: 30,
            allowed_roots: Vec::new(),
            ffprobe: "ffprobe".into(),
            spa_dir: None,
            max_event_streams: 64,
            probe_timeout_seconds: 30.0,
            queue: QueueConfig::default(),
            executor: ExecutorConfig::default(),
            retention: RetentionConfig::default(),
            notify: Vec::new(),
            cost_model: CostModel::default(),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        let s = QueueSettings::default();
        QueueConfig {
            max_batch_size: s.max_batch_size,
            mix_controls: s.mix_controls,
            auto_batch: s.auto_batch,
            max_attempts: 3,
            max_queued_jobs: 100_000,
        }
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            profile: Profile::Simulated,
            // A default Transfer1 batch (~10 estimated minutes) takes about a second.
            time_scale: 0.002,
            slots: Slots::Count(1),
            command: None,
            workdir: None,
            env: BTreeMap::new(),
            checkpoint_dir: "checkpoints".into(),
            num_gpus: 1,
            extra_args: Vec::new(),
            timeout_factor: 3.0,
            timeout_min_seconds: 600.0,
            cancel_grace_seconds: 10.0,
            refit: None,
            max_log_bytes: 64 << 20,
            launcher: LauncherKind::Local,
            slurm: SlurmConfig::default(),
            stall_seconds: None,
            quarantine_after: 3,
        }
    }
}

impl QueueConfig {
    pub fn initial_settings(&self) -> QueueSettings {
        QueueSettings {
            mix_controls: self.mix_controls,
            max_batch_size: self.max_batch_size,
            auto_batch: self.auto_batch,
            learned_caps: Default::default(),
        }
    }
}

impl Config {
    /// Load from an optional TOML file, then apply `COSMOSQ_*` variables from `env`
    /// (`COSMOSQ_BIND`, `COSMOSQ_QUEUE__MAX_BATCH_SIZE`: a double underscore nests; see
    /// [`env::overlay`]), then check the whole ([`Config::validate`]).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, String> {
        let mut root = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
                text.parse::<toml::Table>()
                    .map_err(|e| format!("invalid config {}: {e}", path.display()))?
            }
            None => toml::Table::new(),
        };
        env::overlay(&mut root, env)?;
        // The simulated executor's default scale makes a demonstration quick; a Cosmos program
        // runs in real time, and its time limit and refit assume so unless told otherwise.
        if let Some(executor) = root.get_mut("executor").and_then(|v| v.as_table_mut()) {
            let cosmos = executor
                .get("profile")
                .and_then(|p| p.as_str())
                .and_then(Profile::parse)
                .is_some_and(Profile::is_cosmos);
            if cosmos && !executor.contains_key("time_scale") {
                executor.insert("time_scale".into(), toml::Value::Float(1.0));
            }
        }
        let mut config: Config = toml::Value::Table(root)
            .try_into()
            .map_err(|e| format!("invalid configuration: {e}"))?;
        config.executor.apply_launcher();
        config.validate()?;
        Ok(config)
    }

    /// Make `data_dir` absolute (relative to the working directory now).
    pub fn absolutize(&mut self) -> Result<(), String> {
        if self.data_dir.is_relative() {
            let cwd = std::env::current_dir()
                .map_err(|e| format!("cannot read the working directory: {e}"))?;
            self.data_dir = cwd.join(&self.data_dir);
        }
        Ok(())
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, String> {
        self.bind.parse().map_err(|e| {
            format!(
                "bind `{}` is not an address like 127.0.0.1:8787: {e}",
                self.bind
            )
        })
    }

    /// The configured token, if any (an empty string means none).
    pub fn token(&self) -> Option<&str> {
        self.auth_token.as_deref().filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_loopback_and_simulated() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8787");
        assert_eq!(c.executor.profile, Profile::Simulated);
        assert_eq!(c.queue.max_attempts, 3);
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/q\"\n[queue]\nmax_batch_size = 4\n[cost_model]\nstartup_seconds = 1.5\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            env(&[
                ("COSMOSQ_QUEUE__MAX_BATCH_SIZE", "2"),
                ("COSMOSQ_QUEUE__MIX_CONTROLS", "true"),
                ("COSMOSQ_EXECUTOR__TIME_SCALE", "0"),
                ("COSMOSQ_ALLOWED_ROOTS", "/a,/b"),
                ("COSMOSQ_TOKEN", "client-side, ignored"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/q"));
        assert_eq!(c.queue.max_batch_size, 2);
        assert!(c.queue.mix_controls);
        assert_eq!(c.executor.time_scale, 0.0);
        assert_eq!(c.cost_model.startup_seconds, 1.5);
        assert_eq!(
            c.allowed_roots,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
    }

    #[test]
    fn cosmos_profiles_run_in_real_time_and_launch_one_process_per_gpu() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::load(Some(&path), env(&[])).unwrap()
        };
        assert_eq!(load("").executor.time_scale, 0.002);
        let c = load("[executor]\nprofile = \"cosmos-transfer1\"\nnum_gpus = 2\n");
        assert_eq!(c.executor.time_scale, 1.0);
        assert_eq!(
            c.executor.command()[..3],
            ["torchrun", "--nproc_per_node", "{num_gpus}"]
        );
        let c = load("[executor]\nprofile = \"cosmos-transfer2.5\"\ntime_scale = 0.01\n");
        assert_eq!(c.executor.time_scale, 0.01);
    }

    #[test]
    fn slots_are_a_count_or_a_list() {
        let c: Config = toml::from_str(
            "[executor]\nprofile = \"cosmos-transfer1\"\n[[executor.slots]]\nenv = { CUDA_VISIBLE_DEVICES = \"0\" }\n[[executor.slots]]\nname = \"remote\"\nprefix = [\"ssh\", \"gpu2\"]\n",
        )
        .unwrap();
        let slots = c.executor.slots.list();
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[0].name.as_deref(), Some("slot0"));
        assert_eq!(slots[0].env["CUDA_VISIBLE_DEVICES"], "0");
        assert_eq!(slots[1].prefix, vec!["ssh", "gpu2"]);
        assert!(c.executor.refit_enabled());
        assert_eq!(c.executor.command()[0], "torchrun");
        let c = Config::load(None, env(&[("COSMOSQ_EXECUTOR__SLOTS", "3")])).unwrap();
        assert_eq!(c.executor.slots.list().len(), 3);
        assert!(!c.executor.refit_enabled());
    }

    #[test]
    fn unknown_template_variables_are_refused_at_start() {
        let load = |toml: &str| {
            let c: Config = toml::from_str(toml).unwrap();
            c.validate()
        };
        assert!(load("[executor]\nprofile = \"cosmos-transfer1\"\ncommand = [\"run\", \"{batch_dir}\"]\nenv = { LOG = \"{data_dir}/{slot}-{jobs}\" }\n").is_ok());
        let e = load("[executor]\nprofile = \"cosmos-transfer1\"\n[[executor.slots]]\nprefix = [\"sh\", \"-c\", \"echo ${HOME}\"]\n").unwrap_err();
        assert!(
            e.contains("executor.slots") && e.contains("unknown variable `{HOME}`"),
            "{e}"
        );
        let e = load("[executor]\nprofile = \"cosmos-transfer1\"\n[[executor.slots]]\nstop = [\"docker\", \"stop\", \"cosmosq-{batch}\"]\n").unwrap_err();
        assert!(
            e.contains("executor.slots") && e.contains("unknown variable `{batch}`"),
            "{e}"
        );
        let e = load("[executor]\nprofile = \"cosmos-transfer1\"\nworkdir = \"/opt/{gpu}\"\n")
            .unwrap_err();
        assert!(e.contains("executor.workdir"), "{e}");
    }

    #[test]
    fn bad_configuration_is_refused_with_a_reason() {
        let err = |pairs: &[(&str, &str)]| Config::load(None, env(pairs)).unwrap_err();
        assert!(err(&[("COSMOSQ_BIND", "0.0.0.0:8787")]).contains("auth_token"));
        assert!(Config::load(
            None,
            env(&[
                ("COSMOSQ_BIND", "0.0.0.0:8787"),
                ("COSMOSQ_AUTH_TOKEN", "s3cret")
            ])
        )
        .is_ok());
        assert!(err(&[("COSMOSQ_BIND", "nonsense")]).contains("not an address"));
        assert!(err(&[("COSMOSQ_QUEUE__MAX_BATCH_SIZE", "0")]).contains("max_batch_size"));
        assert!(err(&[("COSMOSQ_EXECUTOR__PROFILE", "gpu")]).contains("not available"));
        assert!(err(&[("COSMOSQ_EXECUTOR__SLOTS", "0")]).contains("slots"));
        assert!(err(&[("COSMOSQ_NO_SUCH_KEY", "1")]).contains("unknown field"));
    }
}
