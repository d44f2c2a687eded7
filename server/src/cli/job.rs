//! `cosmosq job ...`: client subcommands over the REST API.

use super::http::{segment, Client, API};
use super::output::{pretty_json, render_table, show, show_created, show_list, AddOutput, Align};
use super::{CliError, Remote};
use clap::{Args, Subcommand};
use cosmosq_shared::api::{BulkJobs, BulkJobsInput, Job, JobInput, JobStatus, MoveInput, Preset};
use cosmosq_shared::{Control, JobConfig, JobConfigInput, JobKind, Strength};
use std::collections::BTreeMap;

#[derive(Subcommand)]
pub enum JobCommand {
    /// Add a job for a prompt at the end of the queue.
    Add(AddArgs),
    /// List jobs (queue order for queued jobs).
    Ls {
        /// Only jobs with this status: queued, running, succeeded, failed or canceled.
        #[arg(long)]
        status: Option<JobStatus>,
        /// Print the jobs as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print one job as JSON.
    Show {
        /// Job id (`jb_...`).
        id: String,
    },
    /// Cancel a queued or running job (a running batch is stopped; its other jobs go back).
    Cancel {
        /// Job id (`jb_...`).
        id: String,
    },
    /// Move a queued job to another place in the queue.
    Move {
        /// Job id (`jb_...`).
        id: String,
        #[command(flatten)]
        to: MoveTarget,
    },
    /// Queue a failed or canceled job again.
    Retry {
        /// Job id (`jb_...`).
        id: String,
    },
    /// Add the jobs of a JSONL or CSV file in one request (all or none). JSONL: one job per
    /// line as `POST /api/v1/jobs` takes it. CSV: a header row with `prompt_id`, optional
    /// `kind`, a column per control weight (`edge`, ...) and settings (`num_steps`,
    /// `guidance`, `seed`, `sigma_max`, `fps`, `blur_strength`, `canny_threshold`,
    /// `distilled`); an empty cell leaves the setting out.
    Import {
        /// The file (`.jsonl`/`.ndjson` or `.csv`; else JSONL when it starts with `{`).
        file: std::path::PathBuf,
        #[command(flatten)]
        output: AddOutput,
    },
    /// Download finished jobs' output videos into DIR, each with its job (settings, outputs)
    /// as JSON beside it (`<job id>.mp4`, `<job id>.json`). Resumable: a job whose files are
    /// there is skipped.
    Pull {
        /// Only jobs with this status (default succeeded).
        #[arg(long, default_value = "succeeded")]
        status: JobStatus,
        /// Only jobs of this prompt (`ps_...`).
        #[arg(long, value_name = "PROMPT_ID")]
        prompt: Option<String>,
        /// Where the files go (created when missing).
        #[arg(long, value_name = "DIR")]
        dest: std::path::PathBuf,
    },
    /// Wait until the jobs are done: exit 0 when all succeeded, 1 when any failed or was
    /// canceled, 2 when the timeout passed first.
    Wait {
        /// Job ids (`jb_...`).
        #[arg(required = true)]
        ids: Vec<String>,
        /// Give up after this many seconds (exit 2).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// The prompt to run (`ps_...`).
    prompt_id: String,
    /// Weight of one control, 0..=1, e.g. `--weight edge=0.5` (repeatable, or comma-separated:
    /// `edge=0.5,depth=0.3`); controls: vis, edge, depth, seg, keypoint, hdmap, lidar.
    #[arg(
        long = "weight",
        value_name = "CONTROL=WEIGHT",
        value_parser = parse_weight,
        value_delimiter = ','
    )]
    weights: Vec<(Control, f64)>,
    /// inference (default), enhance or upscale.
    #[arg(long, value_parser = parse_kind)]
    kind: Option<JobKind>,
    /// Diffusion steps (default 35).
    #[arg(long)]
    steps: Option<u32>,
    /// Classifier-free guidance (default: the executor's, 5 on Transfer1, 3 on Transfer2.5).
    #[arg(long)]
    guidance: Option<f64>,
    /// Seed (default: the executor's, 1 on Transfer1, 2025 on Transfer2.5).
    #[arg(long)]
    seed: Option<u64>,
    /// Noise level to start from (default: the program's, 70 on cosmos-transfer1; none on
    /// cosmos-transfer2.5, which starts from noise).
    #[arg(long)]
    sigma_max: Option<f64>,
    /// Blur strength of the vis control: very_low, low, medium (default), high, very_high.
    #[arg(long, value_parser = parse_strength)]
    blur: Option<Strength>,
    /// Canny threshold of the edge control: very_low, low, medium (default), high, very_high.
    #[arg(long, value_parser = parse_strength)]
    canny: Option<Strength>,
    /// Output frames per second (default: the program's, 24 on cosmos-transfer1;
    /// cosmos-transfer2.5 keeps the input video's and refuses this).
    #[arg(long)]
    fps: Option<u32>,
    /// Run on Transfer1's distilled edge model (--use_distilled: edge only, one step).
    #[arg(long)]
    distilled: bool,
    /// Vary one setting over a list of values, e.g. `--sweep edge=0.2,0.4,0.6` or
    /// `--sweep seed=1,2,3`: a control's weight, seed, steps, guidance, sigma_max or fps.
    /// Repeat it to vary several: one job per combination (the cartesian product), in one
    /// all-or-nothing request. A value swept replaces the one given by its own option.
    #[arg(long, value_name = "SETTING=V1,V2,...", value_parser = parse_sweep)]
    sweep: Vec<Sweep>,
    /// Run only after this job succeeded (repeatable); when it fails or is canceled, this
    /// job fails with dependency_failed.
    #[arg(long, value_name = "JOB_ID")]
    after: Vec<String>,
    /// For `--kind upscale`: upscale this job's output video (waits for it).
    #[arg(long, value_name = "JOB_ID")]
    input_from: Option<String>,
    /// Start from a preset's settings (`GET /api/v1/presets`); the options given here
    /// override them (a `--weight` replaces the preset's weight of that control).
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Add a sweep's jobs without asking first.
    #[arg(short, long)]
    yes: bool,
    #[command(flatten)]
    output: AddOutput,
}

/// What a `--sweep` varies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SweepKey {
    Weight(Control),
    Seed,
    Steps,
    Guidance,
    SigmaMax,
    Fps,
}

/// One `--sweep SETTING=V1,V2,...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    name: String,
    key: SweepKey,
    values: Vec<f64>,
}

/// Most jobs one `job add --sweep` makes (what one bulk request takes).
const MAX_SWEEP_JOBS: usize = cosmosq_shared::api::MAX_BULK_JOBS;

/// Parse `SETTING=V1,V2,...` of `--sweep`.
pub fn parse_sweep(arg: &str) -> Result<Sweep, String> {
    let (name, list) = arg.split_once('=').ok_or_else(|| {
        format!("expected SETTING=V1,V2,... (e.g. edge=0.2,0.4 or seed=1,2,3), got `{arg}`")
    })?;
    let name = name.trim();
    let key = match name {
        "seed" => SweepKey::Seed,
        "steps" => SweepKey::Steps,
        "guidance" => SweepKey::Guidance,
        "sigma_max" => SweepKey::SigmaMax,
        "fps" => SweepKey::Fps,
        _ => SweepKey::Weight(name.parse().map_err(|_| {
            format!(
                "cannot sweep `{name}`: sweep a control's weight (vis, edge, depth, seg, keypoint, \
                 hdmap, lidar), seed, steps, guidance, sigma_max or fps"
            )
        })?),
    };
    let values = list
        .split(',')
        .map(|v| {
            let v = v.trim();
            let n: f64 = v
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| format!("--sweep {name}: `{v}` is not a number"))?;
            let whole = matches!(key, SweepKey::Seed | SweepKey::Steps | SweepKey::Fps);
            if whole && (n < 0.0 || n.fract() != 0.0) {
                return Err(format!("--sweep {name}: `{v}` is not a whole number >= 0"));
            }
            if let SweepKey::Weight(c) = key {
                parse_weight(&format!("{c}={v}"))?;
            }
            Ok(n)
        })
        .collect::<Result<Vec<f64>, String>>()?;
    Ok(Sweep {
        name: name.to_string(),
        key,
        values,
    })
}

impl Sweep {
    fn apply(&self, value: f64, config: &mut JobConfigInput) {
        match self.key {
            SweepKey::Weight(c) => {
                config.weights.insert(c.as_str().to_string(), value);
            }
            SweepKey::Seed => config.seed = Some(value as u64),
            SweepKey::Steps => config.num_steps = Some(value as u32),
            SweepKey::Guidance => config.guidance = Some(value),
            SweepKey::SigmaMax => config.sigma_max = Some(value),
            SweepKey::Fps => config.fps = Some(value as u32),
        }
    }
}

/// The jobs of `job add`: one, or one per combination of the sweeps' values, the first
/// sweep varying slowest.
pub fn sweep_inputs(args: &AddArgs, preset: Option<&Preset>) -> Result<Vec<JobInput>, CliError> {
    let base = job_input(args, preset)?;
    let count = args
        .sweep
        .iter()
        .try_fold(1usize, |n, s| n.checked_mul(s.values.len()))
        .filter(|n| *n <= MAX_SWEEP_JOBS)
        .ok_or_else(|| {
            CliError::bad_input(format!(
                "the sweeps make more than {MAX_SWEEP_JOBS} jobs (one request takes at most that many)"
            ))
        })?;
    for (i, s) in args.sweep.iter().enumerate() {
        if args.sweep[..i].iter().any(|t| t.key == s.key) {
            return Err(CliError::bad_input(format!(
                "--sweep {} is given more than once",
                s.name
            )));
        }
    }
    let mut inputs = Vec::with_capacity(count);
    for n in 0..count {
        let mut input = base.clone();
        let mut rest = n;
        for s in args.sweep.iter().rev() {
            s.apply(s.values[rest % s.values.len()], &mut input.config);
            rest /= s.values.len();
        }
        inputs.push(input);
    }
    Ok(inputs)
}

/// Where `job move` puts the job: exactly one of the three.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct MoveTarget {
    /// 1-based position (past the end = bottom).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    to: Option<u32>,
    /// Move to the top of the queue.
    #[arg(long)]
    top: bool,
    /// Move to the bottom of the queue.
    #[arg(long)]
    bottom: bool,
}

impl MoveTarget {
    /// The position to send; the daemon clamps anything past the end to the bottom.
    pub fn position(&self) -> u32 {
        match (self.to, self.top) {
            (Some(n), _) => n,
            (None, true) => 1,
            (None, false) => u32::MAX,
        }
    }
}

/// Parse `CONTROL=WEIGHT` of `--weight`.
pub fn parse_weight(arg: &str) -> Result<(Control, f64), String> {
    let (name, weight) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected CONTROL=WEIGHT (e.g. edge=0.5), got `{arg}`"))?;
    let control: Control = name.trim().parse().map_err(|e| format!("{e}"))?;
    let weight: f64 = weight.trim().parse().map_err(|_| {
        format!("weight of `{control}` must be a number from 0 to 1, got `{weight}`")
    })?;
    if !(weight.is_finite() && (0.0..=1.0).contains(&weight)) {
        return Err(format!(
            "weight of `{control}` must be a number from 0 to 1, got {weight}"
        ));
    }
    Ok((control, weight))
}

pub fn parse_kind(arg: &str) -> Result<JobKind, String> {
    [JobKind::Inference, JobKind::Enhance, JobKind::Upscale]
        .into_iter()
        .find(|k| k.as_str() == arg)
        .ok_or_else(|| format!("unknown kind `{arg}` (expected inference, enhance or upscale)"))
}

pub fn parse_strength(arg: &str) -> Result<Strength, String> {
    let token = arg.replace('-', "_");
    Strength::ALL
        .into_iter()
        .find(|s| s.as_str() == token)
        .ok_or_else(|| {
            format!("unknown strength `{arg}` (expected very_low, low, medium, high or very_high)")
        })
}

/// The request body of `job add`.
pub fn job_input(args: &AddArgs, preset: Option<&Preset>) -> Result<JobInput, CliError> {
    let mut given = BTreeMap::new();
    for (control, w) in &args.weights {
        if given.insert(control.as_str().to_string(), *w).is_some() {
            return Err(CliError::bad_input(format!(
                "--weight {control} is given more than once"
            )));
        }
    }
    let base = preset.map(|p| p.config.clone()).unwrap_or_default();
    let mut weights = base.weights;
    weights.extend(given);
    Ok(JobInput {
        prompt_id: args.prompt_id.clone(),
        kind: args.kind.or(preset.and_then(|p| p.kind)),
        config: JobConfigInput {
            weights,
            num_steps: args.steps.or(base.num_steps),
            guidance: args.guidance.or(base.guidance),
            seed: args.seed.or(base.seed),
            sigma_max: args.sigma_max.or(base.sigma_max),
            blur_strength: args.blur.or(base.blur_strength),
            canny_threshold: args.canny.or(base.canny_threshold),
            fps: args.fps.or(base.fps),
            distilled: if args.distilled {
                Some(true)
            } else {
                base.distilled
            },
        },
        after: args.after.clone(),
        input_from: args.input_from.clone(),
    })
}

/// The preset `name` of the daemon, if `args` names one.
fn preset_of(client: &Client, args: &AddArgs) -> Result<Option<Preset>, CliError> {
    let Some(name) = &args.preset else {
        return Ok(None);
    };
    let presets: Vec<Preset> = client.get(&format!("{API}/presets"))?;
    presets
        .into_iter()
        .find(|p| &p.name == name)
        .map(Some)
        .ok_or_else(|| CliError::bad_input(format!("preset_not_found: no preset named {name:?}")))
}

/// The active controls with their weights, `edge=0.5,vis=0.3` (`-` when none).
pub fn weights_label(config: &JobConfig) -> String {
    let active: Vec<String> = config
        .weights
        .iter()
        .filter(|(_, w)| **w > 0.0)
        .map(|(c, w)| format!("{c}={w}"))
        .collect();
    if active.is_empty() {
        "-".to_string()
    } else {
        active.join(",")
    }
}

/// One line about a job.
pub fn summary(job: &Job) -> String {
    let place = match job.position {
        Some(p) => format!(" at position {p}"),
        None => String::new(),
    };
    format!(
        "job {} ({} {}, prompt {}) is {}{place}",
        job.id,
        job.kind,
        weights_label(&job.config),
        job.prompt_id,
        job.status
    )
}

/// Jobs as a table: position, id, status, kind, controls, prompt, attempts.
pub fn table(jobs: &[Job]) -> String {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.position
                    .map_or_else(|| "-".to_string(), |p| p.to_string()),
                j.id.clone(),
                j.status.to_string(),
                j.kind.to_string(),
                weights_label(&j.config),
                j.prompt_id.clone(),
                j.attempts.to_string(),
            ]
        })
        .collect();
    render_table(
        &[
            ("pos", Align::Right),
            ("id", Align::Left),
            ("status", Align::Left),
            ("kind", Align::Left),
            ("controls", Align::Left),
            ("prompt", Align::Left),
            ("attempts", Align::Right),
        ],
        &rows,
    )
}

/// Ask `question` on stderr and read the answer from stdin: yes only for `y` or `yes`. Input
/// that is not a terminal must say `--yes` instead.
fn confirm(question: &str) -> Result<bool, CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(CliError::bad_input(format!(
            "{question} Pass --yes to add them without asking (stdin is not a terminal)"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::bad_input(format!("cannot read the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// `jobs pull`: each matching job with an output video, unless its files are there already.
fn pull(
    client: &Client,
    status: JobStatus,
    prompt: Option<&str>,
    dest: &std::path::Path,
) -> Result<(), CliError> {
    std::fs::create_dir_all(dest)
        .map_err(|e| CliError::bad_input(format!("cannot create {}: {e}", dest.display())))?;
    let query = [("status", status.as_str().to_string())];
    let jobs: Vec<Job> = client.get_query(&format!("{API}/jobs"), &query)?;
    let (mut copied, mut skipped, mut bytes) = (0, 0, 0u64);
    for job in jobs
        .iter()
        .filter(|j| prompt.is_none_or(|p| j.prompt_id == p))
        .filter(|j| j.outputs.video.is_some())
    {
        let video = dest.join(format!("{}.mp4", job.id));
        let meta = dest.join(format!("{}.json", job.id));
        if video.is_file() && meta.is_file() {
            skipped += 1;
            continue;
        }
        bytes += client.download(&format!("{}/output", job_path(&job.id)), &video)?;
        let text = serde_json::to_string_pretty(job).expect("a job serialises");
        let part = meta.with_extension("json.part");
        std::fs::write(&part, text + "\n")
            .and_then(|_| std::fs::rename(&part, &meta))
            .map_err(|e| CliError::unavailable(format!("cannot write {}: {e}", meta.display())))?;
        copied += 1;
    }
    println!(
        "copied {copied} jobs ({bytes} bytes) into {}, {skipped} already there",
        dest.display()
    );
    Ok(())
}

/// The jobs one bulk request added: their ids (`-q`), JSON, or a line each.
fn show_added(added: &BulkJobs, output: &AddOutput) {
    if output.quiet {
        for job in &added.jobs {
            println!("{}", job.id);
        }
    } else {
        let lines: Vec<String> = added.jobs.iter().map(summary).collect();
        let sentence = format!("queued {} jobs:\n{}", added.jobs.len(), lines.join("\n"));
        show(&added.jobs, output.json, |_| sentence);
    }
}

fn job_path(id: &str) -> String {
    format!("{API}/jobs/{}", segment(id))
}

pub fn run(remote: &Remote, command: JobCommand) -> Result<(), CliError> {
    let client = Client::new(remote);
    match command {
        JobCommand::Add(args) if args.sweep.is_empty() => {
            let preset = preset_of(&client, &args)?;
            let input = job_input(&args, preset.as_ref())?;
            let job: Job = client.post(&format!("{API}/jobs"), &input)?;
            let sentence = format!("queued {}", summary(&job));
            show_created(&job, &job.id, args.output, sentence);
        }
        JobCommand::Add(args) => {
            let preset = preset_of(&client, &args)?;
            let jobs = sweep_inputs(&args, preset.as_ref())?;
            if !args.yes && !confirm(&format!("add {} jobs to the queue?", jobs.len()))? {
                return Err(CliError::bad_input("nothing added"));
            }
            let added: BulkJobs =
                client.post(&format!("{API}/jobs/bulk"), &BulkJobsInput { jobs })?;
            show_added(&added, &args.output);
        }
        JobCommand::Ls { status, json } => {
            let query: Vec<(&str, String)> = status
                .map(|s| ("status", s.as_str().to_string()))
                .into_iter()
                .collect();
            let jobs: Vec<Job> = client.get_query(&format!("{API}/jobs"), &query)?;
            let empty = match status {
                Some(s) => format!("no {s} jobs"),
                None => "no jobs".into(),
            };
            show_list(&jobs, json, &empty, table);
        }
        JobCommand::Show { id } => {
            let job: Job = client.get(&job_path(&id))?;
            println!("{}", pretty_json(&job));
        }
        JobCommand::Cancel { id } => {
            let job: Job = client.post_empty(&format!("{}/cancel", job_path(&id)))?;
            println!("{}", summary(&job));
        }
        JobCommand::Move { id, to } => {
            let body = MoveInput {
                position: to.position(),
            };
            let job: Job = client.post(&format!("{}/move", job_path(&id)), &body)?;
            println!("{}", summary(&job));
        }
        JobCommand::Retry { id } => {
            let job: Job = client.post_empty(&format!("{}/retry", job_path(&id)))?;
            println!("{}", summary(&job));
        }
        JobCommand::Import { file, output } => {
            let jobs = super::import::read(&file)?;
            let added: BulkJobs =
                client.post(&format!("{API}/jobs/bulk"), &BulkJobsInput { jobs })?;
            show_added(&added, &output);
        }
        JobCommand::Pull {
            status,
            prompt,
            dest,
        } => pull(&client, status, prompt.as_deref(), &dest)?,
        JobCommand::Wait { ids, timeout } => super::wait::wait(&client, &ids, timeout)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmosq_shared::api::JobOutputs;

    fn parse(args: &[&str]) -> Result<JobCommand, clap::Error> {
        crate::cli::parse_subcommand("job", args)
    }

    #[test]
    fn weights_parse_and_bad_ones_say_why() {
        assert_eq!(parse_weight("edge=0.5").unwrap(), (Control::Edge, 0.5));
        assert_eq!(parse_weight(" vis = 1 ").unwrap(), (Control::Vis, 1.0));
        assert!(parse_weight("edge").unwrap_err().contains("CONTROL=WEIGHT"));
        assert!(parse_weight("edge:0.5")
            .unwrap_err()
            .contains("CONTROL=WEIGHT"));
        assert!(parse_weight("sketch=0.5").unwrap_err().contains("sketch"));
        assert!(parse_weight("edge=abc")
            .unwrap_err()
            .contains("from 0 to 1"));
        assert!(parse_weight("edge=1.5")
            .unwrap_err()
            .contains("from 0 to 1"));
        assert!(parse_weight("edge=-0.1")
            .unwrap_err()
            .contains("from 0 to 1"));
        assert!(parse_weight("edge=NaN")
            .unwrap_err()
            .contains("from 0 to 1"));
    }

    #[test]
    fn kinds_and_strengths_parse() {
        assert_eq!(parse_kind("upscale").unwrap(), JobKind::Upscale);
        assert!(parse_kind("train").is_err());
        assert_eq!(parse_strength("very-high").unwrap(), Strength::VeryHigh);
        assert_eq!(parse_strength("low").unwrap(), Strength::Low);
        assert!(parse_strength("max").is_err());
    }

    #[test]
    fn sweeps_parse_and_bad_ones_say_why() {
        let s = parse_sweep("edge=0.2, 0.4").unwrap();
        assert_eq!(
            (s.key, s.values),
            (SweepKey::Weight(Control::Edge), vec![0.2, 0.4])
        );
        assert_eq!(parse_sweep("seed=1,2,3").unwrap().key, SweepKey::Seed);
        for (bad, says) in [
            ("edge", "SETTING=V1"),
            ("color=1", "cannot sweep `color`"),
            ("edge=0.5,x", "`x` is not a number"),
            ("edge=1.5", "from 0 to 1"),
            ("seed=1.5", "whole number"),
            ("steps=-3", "whole number"),
        ] {
            let e = parse_sweep(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let Ok(JobCommand::Add(args)) =
            parse(&["add", "ps_1", "--sweep", "seed=1,2,3", "--sweep", "seed=4"])
        else {
            panic!("parses")
        };
        assert!(
            sweep_inputs(&args, None).is_err(),
            "the same setting swept twice"
        );
        let Ok(JobCommand::Add(args)) = parse(&[
            "add",
            "ps_1",
            "--sweep",
            "seed=1,2,3,4,5,6,7,8,9,10",
            "--sweep",
            "steps=1,2,3,4,5,6,7,8,9,10",
            "--sweep",
            "guidance=1,2,3,4,5,6,7,8,9,10",
            "--sweep",
            "fps=1,2,3,4,5,6,7,8,9,10",
            "--sweep",
            "edge=0,0.5",
        ]) else {
            panic!("parses")
        };
        assert!(
            sweep_inputs(&args, None).is_err(),
            "20,000 jobs are more than one request takes"
        );
    }

    #[test]
    fn add_builds_the_job_input() {
        let Ok(JobCommand::Add(args)) = parse(&[
            "add",
            "ps_1",
            "--weight",
            "edge=0.5,depth=0.3",
            "--weight",
            "vis=1",
            "--steps",
            "10",
            "--seed",
            "7",
            "--canny",
            "high",
            "--sigma-max",
            "80",
        ]) else {
            panic!("add should parse");
        };
        let input = job_input(&args, None).unwrap();
        assert_eq!(input.prompt_id, "ps_1");
        assert_eq!(input.kind, None);
        let weights: Vec<(&str, f64)> = input
            .config
            .weights
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(weights, vec![("depth", 0.3), ("edge", 0.5), ("vis", 1.0)]);
        assert_eq!(input.config.num_steps, Some(10));
        assert_eq!(input.config.seed, Some(7));
        assert_eq!(input.config.sigma_max, Some(80.0));
        assert_eq!(input.config.canny_threshold, Some(Strength::High));
        assert_eq!(input.config.guidance, None);
        // Omitted settings are left out of the body, so the daemon's defaults apply.
        let body = serde_json::to_value(&input).unwrap();
        assert!(body["config"].get("guidance").is_none());

        let Ok(JobCommand::Add(args)) =
            parse(&["add", "ps_1", "--weight", "edge=0.5", "--weight", "edge=1"])
        else {
            panic!("add should parse");
        };
        assert_eq!(
            job_input(&args, None).unwrap_err().exit_code,
            super::super::EXIT_BAD_INPUT
        );
        assert!(parse(&["add", "ps_1", "--weight", "edge=2"]).is_err());
        assert!(parse(&["add", "ps_1", "--kind", "train"]).is_err());
    }

    #[test]
    fn move_needs_exactly_one_target() {
        let position = |args: &[&str]| match parse(args) {
            Ok(JobCommand::Move { to, .. }) => Ok(to.position()),
            Ok(_) => panic!("not a move"),
            Err(e) => Err(e),
        };
        assert_eq!(position(&["move", "jb_1", "--to", "3"]).unwrap(), 3);
        assert_eq!(position(&["move", "jb_1", "--top"]).unwrap(), 1);
        assert_eq!(position(&["move", "jb_1", "--bottom"]).unwrap(), u32::MAX);
        assert!(position(&["move", "jb_1"]).is_err());
        assert!(position(&["move", "jb_1", "--top", "--bottom"]).is_err());
        assert!(position(&["move", "jb_1", "--to", "0"]).is_err());
    }

    #[test]
    fn ls_status_must_be_known() {
        assert!(matches!(
            parse(&["ls", "--status", "failed"]),
            Ok(JobCommand::Ls {
                status: Some(JobStatus::Failed),
                json: false
            })
        ));
        assert!(parse(&["ls", "--status", "done"]).is_err());
    }

    fn job(id: &str, position: Option<u32>, status: JobStatus) -> Job {
        Job {
            id: id.into(),
            prompt_id: "ps_1".into(),
            kind: JobKind::Inference,
            config: JobConfig {
                weights: [
                    (Control::Vis, 0.3),
                    (Control::Edge, 0.5),
                    (Control::Depth, 0.0),
                ]
                .into_iter()
                .collect(),
                ..JobConfig::default()
            },
            effective_weights: Default::default(),
            status,
            position,
            attempts: 0,
            created_at: "2025-01-02T03:04:05Z".into(),
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
        }
    }

    #[test]
    fn table_shows_position_and_active_controls() {
        let jobs = vec![
            job("jb_run", None, JobStatus::Running),
            job("jb_q", Some(1), JobStatus::Queued),
        ];
        assert_eq!(
            table(&jobs),
            "pos  id      status   kind       controls          prompt  attempts\n  \
             -  jb_run  running  inference  edge=0.5,vis=0.3  ps_1           0\n  \
             1  jb_q    queued   inference  edge=0.5,vis=0.3  ps_1           0\n"
        );
        assert_eq!(
            summary(&jobs[1]),
            "job jb_q (inference edge=0.5,vis=0.3, prompt ps_1) is queued at position 1"
        );
    }
}
