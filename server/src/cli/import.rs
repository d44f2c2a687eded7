//! `cosmosq jobs import FILE`: jobs from a JSONL or CSV file, sent as one bulk request (all or
//! nothing).
//!
//! - **JSONL** (`.jsonl`, `.ndjson`, or a file whose first character is `{`): one job per line,
//!   as `POST /api/v1/jobs` takes it: `{"prompt_id": "ps_...", "kind": "inference", "config":
//!   {"weights": {"edge": 0.5}, "seed": 3}}`. Blank lines are skipped.
//! - **CSV** (anything else): a header row naming the columns, then one job per row.
//!   `prompt_id` is required; `kind` is optional; a column named after a control (`vis`, `edge`,
//!   `depth`, `seg`, `keypoint`, `hdmap`, `lidar`, `upscale`) is its weight; the settings are
//!   `num_steps`, `guidance`, `seed`, `sigma_max`, `fps`, `blur_strength`, `canny_threshold`
//!   and `distilled`. An empty cell leaves the setting out (the executor's default applies).
//!   Fields may be double-quoted (`""` inside is a quote).

use super::CliError;
use cosmosq_shared::api::JobInput;
use cosmosq_shared::Control;
use serde_json::{Map, Value};
use std::path::Path;

/// The jobs of `path`, in file order; an error names the line and why.
pub fn read(path: &Path) -> Result<Vec<JobInput>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::bad_input(format!("cannot read {}: {e}", path.display())))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let jsonl =
        matches!(ext, "jsonl" | "ndjson") || (ext != "csv" && text.trim_start().starts_with('{'));
    let jobs = if jsonl {
        jsonl_jobs(&text)
    } else {
        csv_jobs(&text)
    }
    .map_err(|e| CliError::bad_input(format!("{}: {e}", path.display())))?;
    if jobs.is_empty() {
        return Err(CliError::bad_input(format!(
            "{}: no jobs in the file",
            path.display()
        )));
    }
    Ok(jobs)
}

fn jsonl_jobs(text: &str) -> Result<Vec<JobInput>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// One CSV record's fields (RFC 4180: quoted fields may hold commas, quotes and newlines).
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut out = Vec::new();
    let (mut field, mut fields) = (String::new(), Vec::new());
    let (mut quoted, mut line, mut start) = (false, 1, 1);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                out.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {start}: a quoted field is not closed"));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        out.push((start, fields));
    }
    // Blank lines are no records.
    out.retain(|(_, f)| !(f.len() == 1 && f[0].trim().is_empty()));
    Ok(out)
}

const SETTINGS: [&str; 8] = [
    "num_steps",
    "guidance",
    "seed",
    "sigma_max",
    "fps",
    "blur_strength",
    "canny_threshold",
    "distilled",
];

fn csv_jobs(text: &str) -> Result<Vec<JobInput>, String> {
    let mut rows = records(text)?.into_iter();
    let Some((_, header)) = rows.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    for h in &header {
        let known = h == "prompt_id"
            || h == "kind"
            || SETTINGS.contains(&h.as_str())
            || h.parse::<Control>().is_ok();
        if !known {
            return Err(format!(
                "line 1: unknown column {h:?} (prompt_id, kind, a control's weight, or one of {})",
                SETTINGS.join(", ")
            ));
        }
    }
    if !header.iter().any(|h| h == "prompt_id") {
        return Err("line 1: no prompt_id column".into());
    }
    rows.map(|(line, fields)| {
        if fields.len() != header.len() {
            return Err(format!(
                "line {line}: {} fields, the header has {}",
                fields.len(),
                header.len()
            ));
        }
        let (mut job, mut config, mut weights) = (Map::new(), Map::new(), Map::new());
        for (name, cell) in header.iter().zip(&fields) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let number = || {
                cell.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map(Value::from)
                    .ok_or_else(|| format!("line {line}: {name} {cell:?} is not a number"))
            };
            match name.as_str() {
                "prompt_id" | "kind" => {
                    job.insert(name.clone(), Value::from(cell));
                }
                "num_steps" | "seed" | "fps" => {
                    let n = cell.parse::<u64>().map_err(|_| {
                        format!("line {line}: {name} {cell:?} is not a whole number")
                    })?;
                    config.insert(name.clone(), Value::from(n));
                }
                "guidance" | "sigma_max" => {
                    config.insert(name.clone(), number()?);
                }
                "distilled" => {
                    let b = match cell.to_ascii_lowercase().as_str() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => {
                            return Err(format!(
                                "line {line}: distilled {cell:?} is not true or false"
                            ))
                        }
                    };
                    config.insert(name.clone(), Value::from(b));
                }
                "blur_strength" | "canny_threshold" => {
                    config.insert(name.clone(), Value::from(cell));
                }
                control => {
                    weights.insert(control.to_string(), number()?);
                }
            }
        }
        config.insert("weights".into(), Value::Object(weights));
        job.insert("config".into(), Value::Object(config));
        serde_json::from_value(Value::Object(job)).map_err(|e| format!("line {line}: {e}"))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_jobs_and_bad_cells_name_their_line() {
        let text = "prompt_id,edge,depth,seed,guidance,kind\n\
                    ps_a,0.5,,3,6.5,\n\
                    \"ps_b\",0.2,0.7,,,inference\n\n";
        let jobs = csv_jobs(text).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].prompt_id, "ps_a");
        assert_eq!(jobs[0].config.weights["edge"], 0.5);
        assert!(!jobs[0].config.weights.contains_key("depth"));
        assert_eq!(jobs[0].config.seed, Some(3));
        assert_eq!(jobs[0].config.guidance, Some(6.5));
        assert_eq!(jobs[1].config.weights["depth"], 0.7);
        assert!(csv_jobs("prompt_id,edge\nps_a,lots\n")
            .unwrap_err()
            .starts_with("line 2: edge"));
        assert!(csv_jobs("prompt_id,colour\n")
            .unwrap_err()
            .contains("unknown column"));
        assert!(csv_jobs("edge\n0.5\n")
            .unwrap_err()
            .contains("no prompt_id"));
        assert!(csv_jobs("prompt_id,edge\nps_a\n")
            .unwrap_err()
            .contains("1 fields"));
        assert!(csv_jobs("prompt_id,seed\nps_a,-1\n")
            .unwrap_err()
            .contains("whole number"));
    }

    #[test]
    fn quoted_csv_fields_hold_commas_quotes_and_newlines() {
        let r = records("a,\"b,c\",\"say \"\"hi\"\"\"\n\"two\nlines\",x,y\n").unwrap();
        assert_eq!(
            r[0],
            (1, vec!["a".into(), "b,c".into(), "say \"hi\"".into()])
        );
        assert_eq!(r[1], (2, vec!["two\nlines".into(), "x".into(), "y".into()]));
        assert!(records("a,\"open\n").is_err());
    }

    #[test]
    fn jsonl_lines_are_jobs_as_the_api_takes_them() {
        let jobs = jsonl_jobs(
            "{\"prompt_id\": \"ps_a\", \"config\": {\"weights\": {\"edge\": 0.5}}}\n\n{\"prompt_id\": \"ps_b\"}\n",
        )
        .unwrap();
        assert_eq!(jobs.len(), 2);
        assert!(jsonl_jobs("{\"prompt_id\": \"ps_a\", \"colour\": 1}")
            .unwrap_err()
            .starts_with("line 1:"));
    }
}
