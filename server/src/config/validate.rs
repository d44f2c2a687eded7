//! Checking a loaded configuration as a whole before the daemon starts.

use super::Config;
use cosmosq_shared::plan::MAX_BATCH_SIZE_LIMIT;

impl Config {
    /// Refuse a configuration the daemon cannot run with, saying which key and why.
    pub fn validate(&self) -> Result<(), String> {
        let addr = self.bind_addr()?;
        let has_token = self.auth_token.as_deref().is_some_and(|t| !t.is_empty());
        if !addr.ip().is_loopback() && !has_token {
            return Err(format!(
                "refusing to listen on {addr} without auth_token: set COSMOSQ_AUTH_TOKEN \
                 (or auth_token in the config) to expose the daemon beyond this machine"
            ));
        }
        if !(1..=MAX_BATCH_SIZE_LIMIT).contains(&self.queue.max_batch_size) {
            return Err(format!(
                "queue.max_batch_size must be from 1 to {MAX_BATCH_SIZE_LIMIT}"
            ));
        }
        if self.queue.max_attempts == 0 {
            return Err("queue.max_attempts must be at least 1".into());
        }
        let e = &self.executor;
        if !(e.time_scale.is_finite() && e.time_scale >= 0.0) {
            return Err("executor.time_scale must be a number >= 0".into());
        }
        if e.profile.is_cosmos() && e.time_scale <= 0.0 {
            return Err("executor.time_scale must be above 0 for the Cosmos profiles".into());
        }
        if e.launcher == super::LauncherKind::Slurm {
            if !e.profile.is_cosmos() {
                return Err(
                    "executor.launcher = \"slurm\" needs a Cosmos profile (cosmos-transfer1 or cosmos-transfer2.5)"
                        .into(),
                );
            }
            if !(1..=64).contains(&e.slurm.max_jobs) {
                return Err("executor.slurm.max_jobs must be from 1 to 64".into());
            }
            if !(e.slurm.poll_seconds.is_finite() && e.slurm.poll_seconds >= 0.05) {
                return Err("executor.slurm.poll_seconds must be a number >= 0.05".into());
            }
            if e.slurm.gres.as_deref().is_some_and(str::is_empty)
                || e.slurm.partition.as_deref().is_some_and(str::is_empty)
            {
                return Err("executor.slurm.gres and partition must not be empty when set".into());
            }
        }
        if e.slots.is_empty() || e.slots.len() > 64 {
            return Err("executor.slots must be from 1 to 64 slots".into());
        }
        if e.command.as_ref().is_some_and(|c| c.is_empty()) {
            return Err("executor.command must name a program".into());
        }
        // Template variables: only known ones (see executor::template).
        let check = |what: &str, text: &str| {
            crate::template::check(text).map_err(|m| format!("executor.{what}: {m}"))
        };
        for t in e.command.iter().flatten() {
            check("command", t)?;
        }
        for t in &e.extra_args {
            check("extra_args", t)?;
        }
        for v in e.env.values() {
            check("env", v)?;
        }
        if let Some(w) = &e.workdir {
            check("workdir", &w.display().to_string())?;
        }
        for slot in e.slots.list() {
            for t in slot
                .prefix
                .iter()
                .chain(&slot.stop)
                .chain(slot.env.values())
            {
                check("slots", t)?;
            }
        }
        for (what, v) in [
            ("timeout_factor", e.timeout_factor),
            ("timeout_min_seconds", e.timeout_min_seconds),
            ("cancel_grace_seconds", e.cancel_grace_seconds),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("executor.{what} must be a number >= 0"));
            }
        }
        if let Some(v) = e.stall_seconds {
            if !(v.is_finite() && v > 0.0) {
                return Err(
                    "executor.stall_seconds must be a number > 0 (leave it out for never)".into(),
                );
            }
        }
        for (i, n) in self.notify.iter().enumerate() {
            if !n.url.starts_with("http://") || n.url.len() <= "http://".len() {
                return Err(format!(
                    "notify[{i}].url must be an http:// URL (plain HTTP; put a TLS proxy in front for https), got {:?}",
                    n.url
                ));
            }
            if let Some(e) = n
                .events
                .iter()
                .find(|e| !super::NOTIFY_EVENTS.contains(&e.as_str()))
            {
                return Err(format!(
                    "notify[{i}].events: unknown event {e:?} (one of {})",
                    super::NOTIFY_EVENTS.join(", ")
                ));
            }
        }
        let r = &self.retention;
        if r.keep_days.is_some_and(|d| !(d.is_finite() && d > 0.0)) {
            return Err("retention.keep_days must be a number above 0".into());
        }
        if !(r.check_seconds.is_finite() && r.check_seconds >= 0.05) {
            return Err("retention.check_seconds must be a number >= 0.05".into());
        }
        if self.max_event_streams == 0 {
            return Err("max_event_streams must be at least 1".into());
        }
        if !(self.probe_timeout_seconds.is_finite() && self.probe_timeout_seconds > 0.0) {
            return Err("probe_timeout_seconds must be a number above 0".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes must be at least 1024".into());
        }
        self.cost_model
            .validate()
            .map_err(|e| format!("cost_model: {}", e.message))?;
        Ok(())
    }
}
