//! The Grafana dashboard (deploy/grafana/cosmosq-dashboard.json) against a real daemon's
//! `/metrics`: every metric its queries name exists, and the metric table in deploy/README.md
//! names the same metrics, with the types the daemon declares.

use crate::support::TestApp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

fn dashboard() -> Value {
    serde_json::from_str(&repo_file("deploy/grafana/cosmosq-dashboard.json"))
        .expect("the dashboard is valid JSON")
}

/// Every `cosmosq_[a-z_]+` in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "cosmosq_";
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        // A match must not continue an identifier (`xcosmosq_...`).
        let before = rest[..at].chars().next_back();
        let tail = &rest[at + PREFIX.len()..];
        let len = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        if len > 0 && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.insert(format!("{PREFIX}{}", &tail[..len]));
        }
        rest = &tail[len..];
    }
    names
}

/// All panels, those inside (collapsed) rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(inner) = p.get("panels") {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Metric names in every panel target's `expr`, each with the panel titles naming it.
fn dashboard_metrics(dashboard: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                for name in metric_names(expr) {
                    names.entry(name).or_default().insert(title.to_string());
                }
            }
        }
    }
    // The template variables' queries read metrics too.
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] == "query" {
            let query = match &var["query"] {
                Value::String(s) => s.clone(),
                other => other["query"].as_str().unwrap_or("").to_string(),
            };
            for name in metric_names(&query) {
                names
                    .entry(name)
                    .or_default()
                    .insert(format!("variable ${}", var["name"].as_str().unwrap_or("?")));
            }
        }
    }
    names
}

/// The exposition text: the names of its samples and the `# TYPE` of each family.
struct Exposition {
    samples: BTreeSet<String>,
    types: BTreeMap<String, String>,
}

fn parse_exposition(text: &str) -> Exposition {
    let mut samples = BTreeSet::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            let mut parts = decl.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                types.insert(name.to_string(), kind.to_string());
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            samples.insert(line[..end].to_string());
        }
    }
    Exposition { samples, types }
}

impl Exposition {
    /// Whether `name` is served: a sample of that name, a declared family (a gauge with no
    /// series yet, e.g. per-slot gauges without slots), or a histogram's
    /// `_bucket`/`_sum`/`_count`.
    fn has(&self, name: &str) -> bool {
        if self.samples.contains(name) || self.types.contains_key(name) {
            return true;
        }
        HISTOGRAM_SUFFIXES.iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| self.types.get(base).is_some_and(|t| t == "histogram"))
        })
    }
}

/// The metric table of deploy/README.md's "Grafana dashboard" section: name -> type column.
fn readme_table() -> BTreeMap<String, String> {
    let readme = repo_file("deploy/README.md");
    let start = readme
        .find("\n## Grafana dashboard")
        .expect("deploy/README.md has a \"Grafana dashboard\" section");
    let section = &readme[start + 1..];
    let section = match section[1..].find("\n## ") {
        Some(end) => &section[..end + 1],
        None => section,
    };
    let mut rows = BTreeMap::new();
    for line in section.lines() {
        let Some(row) = line.trim().strip_prefix("| `cosmosq_") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = format!("cosmosq_{}", cells[0].trim_end_matches('`'));
        let kind = cells
            .get(1)
            .and_then(|c| c.split_whitespace().next())
            .unwrap_or("")
            .to_string();
        assert!(
            rows.insert(name.clone(), kind).is_none(),
            "{name} is twice in the table"
        );
    }
    rows
}

/// The metric family a query name belongs to: a histogram series' base name when `families`
/// holds that base.
fn family<'a>(name: &'a str, families: &BTreeMap<String, String>) -> &'a str {
    if families.contains_key(name) {
        return name;
    }
    HISTOGRAM_SUFFIXES
        .iter()
        .find_map(|suffix| {
            name.strip_suffix(suffix)
                .filter(|base| families.get(*base).is_some_and(|t| t == "histogram"))
        })
        .unwrap_or(name)
}

#[test]
fn every_metric_the_dashboard_queries_is_served_and_documented() {
    let app = TestApp::start(&[("COSMOSQ_EXECUTOR__SLOTS", "2")]);
    let r = app.raw("GET", "/metrics", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let served = parse_exposition(&r.body);
    assert!(served.types.len() > 5, "too few metrics:\n{}", r.body);

    let used = dashboard_metrics(&dashboard());
    assert!(
        used.len() > 5,
        "the dashboard queries too few metrics: {used:?}"
    );
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| !served.has(name))
        .map(|(name, panels)| format!("{name} (in {panels:?})"))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics that /metrics does not serve:\n  {}\n/metrics:\n{}",
        missing.join("\n  "),
        r.body
    );

    let table = readme_table();
    assert!(!table.is_empty(), "no metric table in deploy/README.md");
    // Every row names a metric the dashboard queries (a histogram by its base name)...
    for name in table.keys() {
        let queried = used.contains_key(name)
            || HISTOGRAM_SUFFIXES
                .iter()
                .any(|s| used.contains_key(&format!("{name}{s}")));
        assert!(
            queried,
            "deploy/README.md lists {name}, which no dashboard query uses"
        );
    }
    // ...every metric the dashboard queries has a row...
    for name in used.keys() {
        let row = family(name, &table);
        assert!(
            table.contains_key(row),
            "the dashboard queries {name}, which deploy/README.md's table lacks"
        );
    }
    // ...and each row's type is the one the daemon declares.
    for (name, kind) in &table {
        if let Some(declared) = served.types.get(name) {
            assert_eq!(
                kind, declared,
                "deploy/README.md gives {name} the type {kind}; /metrics declares {declared}"
            );
        }
    }
}

#[test]
fn the_dashboard_imports_with_a_prometheus_datasource_input() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().unwrap_or(0) >= 38,
        "schemaVersion {}",
        d["schemaVersion"]
    );
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS input: {inputs:?}"
    );
    let vars = d["templating"]["list"].as_array().expect("templating");
    let ds_vars: BTreeSet<&str> = vars
        .iter()
        .filter(|v| v["type"] == "datasource" && v["query"] == "prometheus")
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(!ds_vars.is_empty(), "no Prometheus data source variable");
    // A panel or query names its data source by a variable, never by a fixed uid.
    let by_variable = |ds: &Value| {
        ds["uid"].as_str().is_some_and(|uid| {
            uid == "${DS_PROMETHEUS}"
                || ds_vars
                    .iter()
                    .any(|v| uid == format!("${{{v}}}") || uid == format!("${v}"))
        })
    };
    let mut ids = BTreeSet::new();
    for panel in panels(&d) {
        let title = panel["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(panel["id"].as_u64().expect("a panel id")),
            "panel id of {title:?} is used twice"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            panel["description"].as_str().is_some_and(|s| s.len() > 20),
            "panel {title:?} has no description"
        );
        assert!(
            panel["fieldConfig"]["defaults"]["unit"].is_string(),
            "panel {title:?} has no unit"
        );
        assert!(
            by_variable(&panel["datasource"]),
            "panel {title:?}: {}",
            panel["datasource"]
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {title:?} has no query");
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| e.contains("cosmosq_")),
                "panel {title:?}: {t}"
            );
            assert!(
                by_variable(&t["datasource"]),
                "panel {title:?}: {}",
                t["datasource"]
            );
        }
    }
}
