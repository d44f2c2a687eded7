//! `cosmosq plan FILE`: offline planning of a JSON job list.

use super::CliError;
use clap::{Args, ValueEnum};
use cosmosq_shared::plan::{parse_plan_file_with, Plan};
use cosmosq_shared::{plan, CostModel, Limits, PlanMode, Profile};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Mode {
    Strict,
    Mixed,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Json,
    Table,
}

#[derive(Args)]
pub struct PlanArgs {
    /// JSON file `{"jobs": [{"id", "weights": {control: weight}, ...}]}` in queue order (`-` = stdin).
    file: PathBuf,
    /// strict: identical controls only; mixed: allow loading the union of controls.
    #[arg(long, value_enum, default_value = "strict")]
    mode: Mode,
    /// Most jobs in one batch (1..=64); the safe size by control count applies too.
    #[arg(long, default_value_t = Limits::default().max_batch_size)]
    max_batch_size: u32,
    /// Cost-model parameters (JSON or TOML); omitted ones keep the Transfer1 defaults.
    #[arg(long)]
    cost_model: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// The executor profile to plan for: its defaults for omitted settings, and whether it
    /// has a batched pass (cosmos-transfer2.5 has none).
    #[arg(long, default_value = "cosmos-transfer1", value_parser = parse_profile)]
    profile: Profile,
}

fn parse_profile(name: &str) -> Result<Profile, String> {
    Profile::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Profile::ALL.iter().map(|p| p.as_str()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

fn read(path: &PathBuf) -> Result<String, CliError> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::bad_input(format!("cannot read stdin: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .map_err(|e| CliError::bad_input(format!("cannot read {}: {e}", path.display())))
}

/// Read a cost model from JSON, or from TOML when the file ends in `.toml`.
pub fn load_cost_model(path: &PathBuf) -> Result<CostModel, CliError> {
    let text = read(path)?;
    let bad =
        |e: String| CliError::bad_input(format!("invalid cost model {}: {e}", path.display()));
    let model: CostModel = if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).map_err(|e| bad(e.to_string()))?
    } else {
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
    };
    model.validate().map_err(|e| bad(e.to_string()))?;
    Ok(model)
}

pub fn run(args: PlanArgs) -> Result<(), CliError> {
    let defaults = args.profile.defaults();
    let jobs = parse_plan_file_with(&read(&args.file)?, &defaults)
        .map_err(|e| CliError::bad_input(format!("{}: {e}", args.file.display())))?;
    let cost = match &args.cost_model {
        Some(path) => load_cost_model(path)?,
        None => CostModel::default(),
    };
    let mode = match args.mode {
        Mode::Strict => PlanMode::Strict,
        Mode::Mixed => PlanMode::Mixed,
    };
    let limits = Limits {
        profile: args.profile,
        ..Limits::new(args.max_batch_size)
    };
    let plan = plan(&jobs, mode, limits, &cost).map_err(|e| CliError::bad_input(e.to_string()))?;
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&plan).expect("a plan always serialises")
        ),
        Format::Table => print!("{}", table(&plan)),
    }
    Ok(())
}

/// The plan as a human-readable table, one row a batch with its reason underneath.
pub fn table(plan: &Plan) -> String {
    let mut out = format!("plan {} ({} mode)\n", plan.plan_id, plan.mode);
    out += &format!(
        "{:>3}  {:<28} {:<24} {:>10} {:>12}\n",
        "#", "jobs", "controls", "batch_size", "estimate s"
    );
    for (i, b) in plan.batches.iter().enumerate() {
        let controls: Vec<&str> = b.controls.iter().map(|c| c.as_str()).collect();
        out += &format!(
            "{:>3}  {:<28} {:<24} {:>10} {:>12.1}\n",
            i + 1,
            b.job_ids.join(","),
            controls.join("+"),
            b.batch_size,
            b.estimated_seconds
        );
        out += &format!("     why: {}\n", b.reason);
    }
    for x in &plan.excluded {
        out += &format!("  excluded {}: {}\n", x.job_id, x.reason);
    }
    let m = &plan.metrics;
    out += &format!(
        "{} jobs -> {} batches; estimated {:.0} s batched vs {:.0} s one by one: speedup {:.2}x; control overhead {:.0} s\n",
        m.job_count,
        m.batch_count,
        m.estimated_batched_seconds,
        m.estimated_sequential_seconds,
        m.speedup,
        m.control_overhead_seconds
    );
    out
}
