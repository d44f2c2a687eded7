//! `COSMOSQ_*` environment variables over the TOML file: `COSMOSQ_QUEUE__MAX_BATCH_SIZE=4`
//! sets `[queue] max_batch_size`. A value is read as the type the key has in the schema, not
//! guessed from its text: `COSMOSQ_AUTH_TOKEN=12345` is a string, and so is
//! `COSMOSQ_EXECUTOR__ENV__CUDA_VISIBLE_DEVICES=1`, whose name keeps its case (an environment
//! variable's name is case-sensitive); other names are lowercased.

use super::{Config, BATCH_DIR_VAR};

/// Variables with the prefix that are not configuration keys: the CLI client's, the log
/// filter, the file's name and the marker the daemon gives the programs it starts.
const NOT_CONFIG: [&str; 5] = [
    "COSMOSQ_SERVER",
    "COSMOSQ_TOKEN",
    "COSMOSQ_LOG",
    "COSMOSQ_CONFIG",
    BATCH_DIR_VAR,
];

/// The type of a configuration key, as the variable's text is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Integer,
    Number,
    Bool,
    /// Comma-separated texts.
    List,
}

/// Keys that have no value in the default configuration (they are optional), with their kind.
const OPTIONAL: [(&str, Kind); 6] = [
    ("auth_token", Kind::Text),
    ("spa_dir", Kind::Text),
    ("executor.command", Kind::List),
    ("executor.workdir", Kind::Text),
    ("executor.refit", Kind::Bool),
    ("executor.stall_seconds", Kind::Number),
];

/// Tables whose keys are names the user chooses (environment variables): their values are
/// texts and their keys keep their case.
const NAME_MAPS: [&str; 1] = ["executor.env"];

fn kind_of(value: &toml::Value) -> Option<Kind> {
    Some(match value {
        toml::Value::String(_) => Kind::Text,
        toml::Value::Integer(_) => Kind::Integer,
        toml::Value::Float(_) => Kind::Number,
        toml::Value::Boolean(_) => Kind::Bool,
        toml::Value::Array(_) => Kind::List,
        _ => return None,
    })
}

/// The kind of the key at `path` in the schema: from the default configuration, or from a
/// sibling's kind where the defaults leave a map's entry out (cost-model maps), or from the
/// table of optional keys; `None` for keys the schema does not have.
fn kind(defaults: &toml::Table, path: &[String]) -> Option<Kind> {
    let dotted = path.join(".");
    if let Some((_, k)) = OPTIONAL.iter().find(|(p, _)| *p == dotted) {
        return Some(*k);
    }
    let (key, parents) = path.split_last()?;
    if NAME_MAPS.contains(&parents.join(".").as_str()) {
        return Some(Kind::Text);
    }
    let mut table = defaults;
    for p in parents {
        table = table.get(p)?.as_table()?;
    }
    match table.get(key) {
        Some(v) => kind_of(v),
        None => table.values().find_map(kind_of),
    }
}

/// The variable's text as a value of `kind` (`None` keeps it a string: the schema check
/// then says what is wrong with it).
fn parse(name: &str, raw: &str, kind: Option<Kind>) -> Result<toml::Value, String> {
    let bad = |what: &str| format!("{name}: expected {what}, got `{raw}`");
    Ok(match kind {
        Some(Kind::Integer) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("a whole number"))?)
        }
        Some(Kind::Number) => toml::Value::Float(raw.trim().parse().map_err(|_| bad("a number"))?),
        Some(Kind::Bool) => {
            toml::Value::Boolean(raw.trim().parse().map_err(|_| bad("true or false"))?)
        }
        Some(Kind::List) => toml::Value::Array(
            raw.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        Some(Kind::Text) | None => toml::Value::String(raw.to_string()),
    })
}

/// Apply every `COSMOSQ_*` variable of `env` to `root` (the file's table).
pub(super) fn overlay(
    root: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), String> {
    let defaults = match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("COSMOSQ_") else {
            continue;
        };
        if NOT_CONFIG.contains(&name.as_str()) {
            continue;
        }
        let mut path: Vec<String> = Vec::new();
        for part in rest.split("__") {
            let in_name_map = NAME_MAPS.contains(&path.join(".").as_str());
            path.push(if in_name_map {
                part.to_string()
            } else {
                part.to_ascii_lowercase()
            });
        }
        let value = parse(&name, &raw, kind(&defaults, &path))?;
        let (key, parents) = path.split_last().expect("split yields at least one part");
        let mut table = &mut *root;
        for part in parents {
            let entry = table
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry
                .as_table_mut()
                .ok_or_else(|| format!("{name}: `{part}` is not a section"))?;
        }
        table.insert(key.clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, String> {
        Config::load(
            None,
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn values_take_the_type_of_their_key() {
        let c = load(&[
            ("COSMOSQ_AUTH_TOKEN", "1234567890"),
            ("COSMOSQ_EXECUTOR__ENV__CUDA_VISIBLE_DEVICES", "1"),
            ("COSMOSQ_EXECUTOR__ENV__HF_HOME", "/models"),
            ("COSMOSQ_EXECUTOR__TIME_SCALE", "1"),
            ("COSMOSQ_EXECUTOR__REFIT", "true"),
            ("COSMOSQ_EXECUTOR__COMMAND", "python3,run.py"),
            ("COSMOSQ_COST_MODEL__CONTROL_LOAD_SECONDS__EDGE", "120"),
            ("COSMOSQ_QUEUE__MAX_BATCH_SIZE", "4"),
            ("COSMOSQ_FFPROBE", "123"),
        ])
        .unwrap();
        assert_eq!(c.auth_token.as_deref(), Some("1234567890"));
        assert_eq!(
            c.executor.env["CUDA_VISIBLE_DEVICES"], "1",
            "{:?}",
            c.executor.env
        );
        assert_eq!(c.executor.env["HF_HOME"], "/models");
        assert_eq!(c.executor.time_scale, 1.0);
        assert_eq!(c.executor.refit, Some(true));
        assert_eq!(
            c.executor.command.as_deref(),
            Some(&["python3".to_string(), "run.py".to_string()][..])
        );
        assert_eq!(c.queue.max_batch_size, 4);
        assert_eq!(c.ffprobe, "123");
        let edge = cosmosq_shared::Control::Edge;
        assert_eq!(c.cost_model.control_load_seconds[&edge], 120.0);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_with_its_variable() {
        let e = load(&[("COSMOSQ_QUEUE__MAX_BATCH_SIZE", "four")]).unwrap_err();
        assert!(
            e.contains("COSMOSQ_QUEUE__MAX_BATCH_SIZE") && e.contains("whole number"),
            "{e}"
        );
        let e = load(&[("COSMOSQ_EXECUTOR__REFIT", "yes")]).unwrap_err();
        assert!(e.contains("true or false"), "{e}");
    }
}
