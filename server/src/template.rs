//! Template variables in the executor's launch settings: `command`, `extra_args`, `env`
//! values, `workdir`, and each slot's `prefix`, `stop` and `env` values may name `{batch_id}`,
//! `{batch_dir}`, `{data_dir}`, `{slot}`, `{jobs}` and `{num_gpus}`; `{{` and `}}` are literal
//! braces. The flags the daemon builds from the jobs (prompt text included) are never
//! expanded.

/// The variables a launch setting may name.
pub const VARIABLES: [&str; 6] = [
    "batch_id",
    "batch_dir",
    "data_dir",
    "slot",
    "jobs",
    "num_gpus",
];

/// `text` with every `{name}` replaced by `value(name)`.
pub fn expand(text: &str, value: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if let Some(body) = tail.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("`{text}`: `{{` without `}}` (write `{{{{` for a brace)"))?;
            let name = &body[..end];
            let v = value(name).ok_or_else(|| {
                format!(
                    "`{text}`: unknown variable `{{{name}}}` (known: {}; write `{{{{` for a brace)",
                    VARIABLES.map(|v| format!("{{{v}}}")).join(", ")
                )
            })?;
            out.push_str(&v);
            rest = &body[end + 1..];
        } else {
            return Err(format!(
                "`{text}`: `}}` without `{{` (write `}}}}` for a brace)"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Check a setting at start-up: every variable it names is known.
pub fn check(text: &str) -> Result<(), String> {
    expand(text, &|name| VARIABLES.contains(&name).then(String::new)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "batch_id" => Some("bt_1".into()),
            "data_dir" => Some("/var/lib/cosmosq".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_expand_and_braces_escape() {
        assert_eq!(expand("plain", &vars).unwrap(), "plain");
        assert_eq!(
            expand("{data_dir}:{data_dir}", &vars).unwrap(),
            "/var/lib/cosmosq:/var/lib/cosmosq"
        );
        assert_eq!(
            expand("--name=cosmos-{batch_id}", &vars).unwrap(),
            "--name=cosmos-bt_1"
        );
        assert_eq!(expand("${{HOME}}", &vars).unwrap(), "${HOME}");
        assert_eq!(expand("{{}}", &vars).unwrap(), "{}");
    }

    #[test]
    fn mistakes_are_named() {
        let e = expand("${HOME}", &vars).unwrap_err();
        assert!(
            e.contains("unknown variable `{HOME}`") && e.contains("{batch_dir}"),
            "{e}"
        );
        assert!(expand("{batch_id", &vars).unwrap_err().contains("without"));
        assert!(expand("a}b", &vars).unwrap_err().contains("without"));
        assert!(check("{slot} {jobs} {num_gpus} {batch_dir}").is_ok());
        assert!(check("{gpu}").is_err());
    }
}
