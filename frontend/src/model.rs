//! Pure view-model helpers of the pages: filters, labels, durations, error wording, the
//! reconnect backoff. No browser APIs, so they are tested natively.

use crate::preview::PromptIndex;
use cosmosq_shared::api::{Job, JobStatus};
use cosmosq_shared::{Control, ErrorCode, JobConfig};

/// Delay before reconnect attempt `attempt` (0-based) of the event stream: 0.5 s doubling up
/// to 10 s.
pub fn backoff_ms(attempt: u32) -> u32 {
    500u32.saturating_mul(1 << attempt.min(5)).min(10_000)
}

/// `45 s`, `3 min 20 s`, `2 h 05 min`.
pub fn format_seconds(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".into();
    }
    if seconds < 10.0 {
        return format!("{seconds:.1} s");
    }
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// `3.2×`.
pub fn format_speedup(speedup: f64) -> String {
    if speedup.is_finite() {
        format!("{speedup:.1}×")
    } else {
        "–".into()
    }
}

/// `512 B`, `3.4 MB`, `1.2 GB` (powers of 1000).
pub fn format_bytes(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// `1 job`, `3 jobs`, `2 batches`.
pub fn plural(n: usize, noun: &str) -> String {
    let suffix = match (n, noun.ends_with("ch") || noun.ends_with('s')) {
        (1, _) => "",
        (_, true) => "es",
        _ => "s",
    };
    format!("{n} {noun}{suffix}")
}

/// 0..=1 as a whole percentage.
pub fn percent(progress: f64) -> u32 {
    (progress.clamp(0.0, 1.0) * 100.0).round() as u32
}

/// The first 10 characters of an id (`jb_` + 7 hex), enough to tell jobs apart on screen.
pub fn short_id(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}

/// Active controls (weight > 0) with their weights, sorted by name.
pub fn active_controls(config: &JobConfig) -> Vec<(Control, f64)> {
    config
        .weights
        .iter()
        .filter(|(_, w)| **w > 0.0)
        .map(|(c, w)| (*c, *w))
        .collect()
}

/// The settings other than weights, in one line; a setting the job left to the program says
/// "program default".
pub fn settings_line(config: &JobConfig) -> String {
    let sigma = config
        .sigma_max
        .map_or("program default".to_string(), |s| s.to_string());
    let fps = config
        .fps
        .map_or("fps: program default".to_string(), |f| format!("{f} fps"));
    format!(
        "{}{} steps · guidance {} · seed {} · sigma max {sigma} · blur {} · canny {} · {fps}",
        if config.distilled {
            "distilled · "
        } else {
            ""
        },
        config.num_steps,
        config.guidance,
        config.seed,
        config.blur_strength,
        config.canny_threshold,
    )
}

/// The weights a job runs with where they differ from what it asked (`None` when the same),
/// e.g. `edge 0.582 · depth 0.416`.
pub fn runs_with(job: &Job) -> Option<String> {
    let asked = job.config.weights.iter().filter(|(_, w)| **w > 0.0);
    if job.effective_weights.is_empty() || asked.eq(job.effective_weights.iter()) {
        return None;
    }
    Some(weights_line(&job.effective_weights))
}

/// Weights in one line, to three decimals: `edge 0.582 · depth 0.416`.
pub fn weights_line(weights: &std::collections::BTreeMap<Control, f64>) -> String {
    weights
        .iter()
        .map(|(c, w)| format!("{c} {}", (w * 1000.0).round() / 1000.0))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// What the Runs page lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// One finished status, or every finished one.
    pub status: Option<JobStatus>,
    /// Case-insensitive text in the prompt's name or text, the job or batch id, or the error.
    pub text: String,
    /// Only this prompt's runs.
    pub prompt_id: Option<String>,
}

/// Finished jobs (succeeded, failed, canceled) matching `filter`, newest first.
pub fn filter_runs(jobs: &[Job], prompts: &PromptIndex, filter: &RunFilter) -> Vec<Job> {
    let needle = filter.text.trim().to_lowercase();
    let mut runs: Vec<Job> = jobs
        .iter()
        .filter(|j| j.status.is_terminal())
        .filter(|j| filter.status.is_none_or(|s| j.status == s))
        .filter(|j| filter.prompt_id.as_deref().is_none_or(|p| j.prompt_id == p))
        .filter(|j| {
            if needle.is_empty() {
                return true;
            }
            let prompt = prompts.get(&j.prompt_id);
            let mut hay = vec![j.id.as_str(), j.prompt_id.as_str()];
            if let Some(p) = prompt {
                hay.push(&p.name);
                hay.push(&p.text);
            }
            if let Some(b) = &j.batch_id {
                hay.push(b);
            }
            if let Some(e) = &j.error {
                hay.push(e.code.as_str());
                hay.push(&e.message);
            }
            hay.iter().any(|h| h.to_lowercase().contains(&needle))
        })
        .cloned()
        .collect();
    runs.sort_by(|a, b| {
        let key = |j: &Job| {
            j.finished_at
                .clone()
                .unwrap_or_else(|| j.created_at.clone())
        };
        key(b).cmp(&key(a))
    });
    runs
}

/// An API failure in plain words: what went wrong and, where it helps, what to do.
/// `status` 0 means the request never got an answer.
pub fn plain_error(status: u16, code: Option<ErrorCode>, message: &str) -> String {
    let hint = match (status, code) {
        (0, _) => {
            return format!("Cannot reach the daemon ({message}). Is it running? Retrying when the connection comes back.")
        }
        (401, _) => " Enter the daemon's access token under Settings (top right).",
        (_, Some(ErrorCode::StalePlan)) => " The fresh plan is shown below.",
        (_, Some(ErrorCode::PromptInUse)) => " Cancel or finish its queued jobs first.",
        (_, Some(ErrorCode::ControlVideoRequired)) => {
            " Add that control video when creating the prompt."
        }
        (s, _) if s >= 500 => " This is a daemon error; its log has the details.",
        _ => "",
    };
    let mut sentence = message.to_string();
    if let Some(first) = sentence.get(..1) {
        let upper = first.to_uppercase();
        sentence.replace_range(..1, &upper);
    }
    if !sentence.ends_with('.') {
        sentence.push('.');
    }
    format!("{sentence}{hint}")
}

/// Most jobs "vary a setting" adds in one click.
pub const MAX_VARIED_JOBS: usize = 1_000;

/// What "vary a setting" varies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Varied {
    Weight(Control),
    Seed,
    Steps,
    Guidance,
}

impl Varied {
    /// The choices of the menu: (value, label).
    pub fn choices() -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Control::ALL
            .iter()
            .map(|c| (format!("weight:{c}"), format!("{c} weight")))
            .collect();
        out.extend([
            ("seed".to_string(), "seed".to_string()),
            ("num_steps".to_string(), "steps".to_string()),
            ("guidance".to_string(), "guidance".to_string()),
        ]);
        out
    }

    pub fn parse(value: &str) -> Option<Varied> {
        match value {
            "seed" => Some(Varied::Seed),
            "num_steps" => Some(Varied::Steps),
            "guidance" => Some(Varied::Guidance),
            v => v.strip_prefix("weight:")?.parse().ok().map(Varied::Weight),
        }
    }

    fn whole(self) -> bool {
        matches!(self, Varied::Seed | Varied::Steps)
    }

    /// `config` with this setting at `v`.
    pub fn apply(self, v: f64, config: &mut cosmosq_shared::JobConfigInput) {
        match self {
            Varied::Weight(c) => {
                config.weights.insert(c.as_str().to_string(), v);
            }
            Varied::Seed => config.seed = Some(v as u64),
            Varied::Steps => config.num_steps = Some(v as u32),
            Varied::Guidance => config.guidance = Some(v),
        }
    }
}

/// The values of "vary a setting": a list (`0.2, 0.4, 0.6` or `1 2 3`) or an inclusive range
/// (`0.2..0.8 step 0.2`, `1..5`: step 1). Seeds and steps must be whole numbers.
pub fn varied_values(text: &str, what: Varied) -> Result<Vec<f64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let number = |s: &str| -> Result<f64, String> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("“{}” is not a number.", s.trim()))?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("“{}” must be a number of 0 or more.", s.trim()));
        }
        if what.whole() && v.fract() != 0.0 {
            return Err(format!("“{}” must be a whole number.", s.trim()));
        }
        Ok(v)
    };
    let values = if let Some((from, rest)) = text.split_once("..") {
        let (to, step) = match rest.split_once("step") {
            Some((to, step)) => (to, Some(step)),
            None => (rest, None),
        };
        let (from, to) = (number(from)?, number(to)?);
        let step = match step {
            Some(s) => number(s)?,
            None if what.whole() => 1.0,
            None => return Err("Give the range a step, e.g. 0.2..0.8 step 0.2.".into()),
        };
        if step <= 0.0 {
            return Err("The step must be above 0.".into());
        }
        if to < from {
            return Err("The range must go up (from..to).".into());
        }
        let n = ((to - from) / step + 1e-9).floor() as usize + 1;
        if n > MAX_VARIED_JOBS {
            return Err(format!(
                "That is {n} values; at most {MAX_VARIED_JOBS} at once."
            ));
        }
        // Multiples of the step, rounded to the step's own decimals (0.1 + 0.2 is 0.3).
        (0..n)
            .map(|k| ((from + step * k as f64) * 1e9).round() / 1e9)
            .collect()
    } else {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(number)
            .collect::<Result<Vec<f64>, String>>()?
    };
    if values.len() > MAX_VARIED_JOBS {
        return Err(format!(
            "That is {} values; at most {MAX_VARIED_JOBS} at once.",
            values.len()
        ));
    }
    if let Varied::Weight(_) = what {
        if let Some(v) = values.iter().find(|v| **v > 1.0) {
            return Err(format!("A weight is from 0 to 1, not {v}."));
        }
    }
    Ok(values)
}

/// A batch log as it arrives in pieces (`?offset=` = the bytes received so far): whole lines,
/// and the bytes of the line still being written (a piece may end inside a UTF-8 character).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogText {
    pub lines: Vec<String>,
    partial: Vec<u8>,
    /// Bytes received so far (the next `offset`).
    pub received: u64,
}

impl LogText {
    /// Add the next piece.
    pub fn push(&mut self, bytes: &[u8]) {
        self.received += bytes.len() as u64;
        self.partial.extend_from_slice(bytes);
        let Some(last) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let rest = self.partial.split_off(last + 1);
        let whole = std::mem::replace(&mut self.partial, rest);
        self.lines.extend(
            String::from_utf8_lossy(&whole[..whole.len() - 1])
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string()),
        );
    }

    /// The whole text at once (one job's lines).
    pub fn whole(bytes: &[u8]) -> LogText {
        let mut t = LogText::default();
        t.push(bytes);
        t
    }

    /// Every line, the one being written last (when there is one).
    pub fn all_lines(&self) -> Vec<String> {
        let mut lines = self.lines.clone();
        if !self.partial.is_empty() {
            lines.push(String::from_utf8_lossy(&self.partial).into_owned());
        }
        lines
    }
}

/// Whether a log line matches the search (case-insensitive; an empty search matches none).
pub fn line_matches(line: &str, query: &str) -> bool {
    let q = query.trim();
    !q.is_empty() && line.to_lowercase().contains(&q.to_lowercase())
}

/// A line cut around the search's matches: (text, is a match) pieces, in order.
pub fn highlight(line: &str, query: &str) -> Vec<(String, bool)> {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return vec![(line.to_string(), false)];
    }
    // Lowercasing may change byte lengths outside ASCII: search char by char.
    let chars: Vec<char> = line.chars().collect();
    let lower: Vec<String> = chars.iter().map(|c| c.to_lowercase().collect()).collect();
    let qchars: Vec<char> = q.chars().collect();
    let mut pieces: Vec<(String, bool)> = Vec::new();
    let mut plain = String::new();
    let mut i = 0;
    while i < chars.len() {
        let end = i + qchars.len();
        let hit = end <= chars.len() && lower[i..end].concat() == q;
        if hit {
            if !plain.is_empty() {
                pieces.push((std::mem::take(&mut plain), false));
            }
            pieces.push((chars[i..end].iter().collect(), true));
            i = end;
        } else {
            plain.push(chars[i]);
            i += 1;
        }
    }
    if !plain.is_empty() {
        pieces.push((plain, false));
    }
    pieces
}

/// `jb_1,jb_2, jb_3` → the ids, in order, without repeats or blanks.
pub fn id_list(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !ids.iter().any(|x| x == id) {
            ids.push(id.to_string());
        }
    }
    ids
}

/// One row of the Compare view's settings table: a setting's value for each job, and whether
/// they differ.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingRow {
    pub label: String,
    pub values: Vec<String>,
    pub differs: bool,
}

/// The settings of `jobs` side by side: the prompt, each control's weight (any job's
/// control; 0 where a job has none), then the run settings.
pub fn compare_rows(jobs: &[Job], prompts: &PromptIndex) -> Vec<SettingRow> {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, value: &dyn Fn(&Job) -> String| {
        rows.push((label.to_string(), jobs.iter().map(value).collect()));
    };
    row("prompt", &|j| {
        prompts
            .get(&j.prompt_id)
            .map_or_else(|| j.prompt_id.clone(), |p| p.text.clone())
    });
    row("negative prompt", &|j| {
        prompts
            .get(&j.prompt_id)
            .and_then(|p| p.negative_prompt.clone())
            .unwrap_or_else(|| "program default".into())
    });
    row("kind", &|j| j.kind.as_str().to_string());
    let controls: std::collections::BTreeSet<Control> = jobs
        .iter()
        .flat_map(|j| active_controls(&j.config).into_iter().map(|(c, _)| c))
        .collect();
    for c in controls {
        row(&format!("{c} weight"), &|j| {
            format!("{}", j.config.weights.get(&c).copied().unwrap_or(0.0))
        });
    }
    let default = |v: Option<String>| v.unwrap_or_else(|| "program default".into());
    row("steps", &|j| j.config.num_steps.to_string());
    row("guidance", &|j| j.config.guidance.to_string());
    row("seed", &|j| j.config.seed.to_string());
    row("sigma max", &|j| {
        default(j.config.sigma_max.map(|s| s.to_string()))
    });
    row("blur", &|j| j.config.blur_strength.to_string());
    row("canny", &|j| j.config.canny_threshold.to_string());
    row("fps", &|j| default(j.config.fps.map(|f| f.to_string())));
    row("distilled", &|j| {
        if j.config.distilled { "yes" } else { "no" }.into()
    });
    row("batch", &|j| {
        j.batch_id.as_deref().map_or("–", short_id).to_string()
    });
    rows.into_iter()
        .map(|(label, values)| SettingRow {
            differs: values.iter().any(|v| *v != values[0]),
            label,
            values,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::synthetic_queue;
    use cosmosq_shared::api::ErrorBody;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(0), 500);
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(4), 8000);
        assert_eq!(backoff_ms(5), 10_000);
        assert_eq!(backoff_ms(40), 10_000);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_seconds(2.345), "2.3 s");
        assert_eq!(format_seconds(45.4), "45 s");
        assert_eq!(format_seconds(200.0), "3 min 20 s");
        assert_eq!(format_seconds(7500.0), "2 h 05 min");
        assert_eq!(format_seconds(f64::NAN), "–");
        assert_eq!(format_speedup(3.04), "3.0×");
        assert_eq!(percent(0.456), 46);
        assert_eq!(percent(7.0), 100);
        assert_eq!(plural(1, "batch"), "1 batch");
        assert_eq!(plural(3, "batch"), "3 batches");
        assert_eq!(plural(0, "job"), "0 jobs");
    }

    #[test]
    fn run_filters() {
        let (queue, prompts) = synthetic_queue(6, false);
        let mut jobs = queue.jobs;
        jobs[0].status = JobStatus::Succeeded;
        jobs[0].finished_at = Some("2026-01-01T00:00:01Z".into());
        jobs[1].status = JobStatus::Failed;
        jobs[1].finished_at = Some("2026-01-01T00:00:02Z".into());
        jobs[1].error = Some(ErrorBody {
            code: ErrorCode::OutOfMemory,
            message: "out of memory".into(),
        });
        jobs[2].status = JobStatus::Canceled;
        jobs[2].finished_at = Some("2026-01-01T00:00:03Z".into());
        let all = filter_runs(&jobs, &prompts, &RunFilter::default());
        let ids: Vec<&str> = all.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, [&jobs[2].id, &jobs[1].id, &jobs[0].id]);
        let failed = RunFilter {
            status: Some(JobStatus::Failed),
            ..RunFilter::default()
        };
        assert_eq!(filter_runs(&jobs, &prompts, &failed).len(), 1);
        let text = RunFilter {
            text: "OUT OF mem".into(),
            ..RunFilter::default()
        };
        assert_eq!(filter_runs(&jobs, &prompts, &text)[0].id, jobs[1].id);
        let by_prompt = RunFilter {
            prompt_id: Some(jobs[0].prompt_id.clone()),
            ..RunFilter::default()
        };
        assert_eq!(filter_runs(&jobs, &prompts, &by_prompt).len(), 1);
        let by_prompt_name = RunFilter {
            text: "prompt 2".into(),
            ..RunFilter::default()
        };
        assert_eq!(
            filter_runs(&jobs, &prompts, &by_prompt_name)[0].id,
            jobs[2].id
        );
    }

    #[test]
    fn errors_in_plain_words() {
        assert_eq!(
            plain_error(
                422,
                Some(ErrorCode::WeightOutOfRange),
                "weight of `edge` must be a number from 0 to 1, got 3"
            ),
            "Weight of `edge` must be a number from 0 to 1, got 3."
        );
        assert!(plain_error(401, Some(ErrorCode::Unauthorized), "x").contains("access token"));
        assert!(plain_error(0, None, "connection refused").starts_with("Cannot reach the daemon"));
    }

    #[test]
    fn controls_and_settings() {
        let mut config = JobConfig::default();
        config.weights.insert(Control::Vis, 0.0);
        config.weights.insert(Control::Edge, 0.5);
        assert_eq!(active_controls(&config), [(Control::Edge, 0.5)]);
        assert!(settings_line(&config).starts_with("35 steps · guidance 5 · seed 1"));
        assert_eq!(short_id("jb_0123456789abcdef"), "jb_0123456");
        assert_eq!(short_id("jb_1"), "jb_1");
    }

    #[test]
    fn varied_values_take_lists_and_ranges() {
        let w = Varied::Weight(Control::Edge);
        assert_eq!(varied_values("0.2, 0.4 0.6", w).unwrap(), [0.2, 0.4, 0.6]);
        assert_eq!(
            varied_values("0.2..0.8 step 0.2", w).unwrap(),
            [0.2, 0.4, 0.6, 0.8]
        );
        assert_eq!(
            varied_values("0.1..0.3 step 0.1", w).unwrap(),
            [0.1, 0.2, 0.3]
        );
        assert_eq!(
            varied_values("1..4", Varied::Seed).unwrap(),
            [1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(varied_values("", w).unwrap(), Vec::<f64>::new());
        assert!(varied_values("0.2..0.8", w).unwrap_err().contains("step"));
        assert!(varied_values("1.5", Varied::Seed)
            .unwrap_err()
            .contains("whole"));
        assert!(varied_values("0.5, 2", w)
            .unwrap_err()
            .contains("from 0 to 1"));
        assert!(varied_values("a", w).unwrap_err().contains("not a number"));
        assert!(varied_values("0..5000", Varied::Seed)
            .unwrap_err()
            .contains("at most"));
        assert!(varied_values("5..1", Varied::Seed)
            .unwrap_err()
            .contains("go up"));
        assert_eq!(
            Varied::parse("weight:depth"),
            Some(Varied::Weight(Control::Depth))
        );
        assert_eq!(Varied::parse("seed"), Some(Varied::Seed));
        assert_eq!(Varied::parse("weight:colour"), None);
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3_400_000), "3.4 MB");
        assert_eq!(format_bytes(1_249_000_000), "1.2 GB");
    }

    #[test]
    fn log_text_keeps_whole_lines_across_pieces() {
        let mut t = LogText::default();
        t.push(b"first line\nsec");
        assert_eq!(t.lines, ["first line"]);
        assert_eq!(t.all_lines(), ["first line", "sec"]);
        // A piece that ends inside a character: é is 0xC3 0xA9.
        t.push(b"ond \xC3");
        t.push(b"\xA9t\xC3\xA9\r\nthird\n");
        assert_eq!(t.lines, ["first line", "second été", "third"]);
        assert_eq!(t.all_lines().len(), 3);
        assert_eq!(t.received, 31);
        assert_eq!(LogText::whole(b"a\nb").all_lines(), ["a", "b"]);
        assert!(LogText::whole(b"").all_lines().is_empty());
    }

    #[test]
    fn search_highlights_every_match_case_insensitively() {
        assert!(line_matches("[simulated] Job 1 started", "job 1"));
        assert!(!line_matches("anything", "  "));
        assert_eq!(
            highlight("Edge then edge", "EDGE"),
            [
                ("Edge".to_string(), true),
                (" then ".to_string(), false),
                ("edge".to_string(), true)
            ]
        );
        assert_eq!(highlight("plain", ""), [("plain".to_string(), false)]);
        assert_eq!(highlight("ÉTÉ été", "été").len(), 3);
    }

    #[test]
    fn compare_rows_mark_what_differs() {
        let (queue, prompts) = synthetic_queue(2, false);
        let mut jobs = queue.jobs.clone();
        jobs[1].prompt_id = jobs[0].prompt_id.clone();
        jobs[1].config.num_steps = jobs[0].config.num_steps;
        jobs[1].config.seed = 9;
        let rows = compare_rows(&jobs, &prompts);
        let get = |label: &str| rows.iter().find(|r| r.label == label).unwrap();
        assert!(get("seed").differs);
        assert_eq!(get("seed").values, ["1", "9"]);
        assert!(!get("steps").differs);
        assert!(!get("prompt").differs);
        // Job 0 runs edge, job 1 depth: both weights show, both differ.
        assert_eq!(get("edge weight").values, ["0.5", "0"]);
        assert!(get("depth weight").differs);
        assert_eq!(id_list(" jb_1,jb_2,,jb_1 "), ["jb_1", "jb_2"]);
    }
}
