//! `cosmosq slots ...`: the executor slots of a running daemon, and taking them in and out of
//! service.

use super::http::{segment, Client, API};
use super::output::{render_table, short_time, show_list, Align};
use super::{CliError, Remote};
use clap::Subcommand;
use cosmosq_shared::api::SlotView;

#[derive(Subcommand)]
pub enum SlotsCommand {
    /// List the slots: state, the batch each runs, failures in a row, the last error.
    Ls {
        /// Print the slots as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Finish the slot's current batch, then take no other.
    Drain { name: String },
    /// Take the slot out of service now (a batch it runs goes back to the queue).
    Disable { name: String },
    /// Put the slot back in service (after a drain, a disable or a quarantine).
    Enable { name: String },
}

/// The slots as a table.
pub fn table(slots: &[SlotView]) -> String {
    let rows: Vec<Vec<String>> = slots
        .iter()
        .map(|s| {
            let batch = match (&s.batch_id, &s.slurm) {
                (Some(b), Some(j)) => format!(
                    "{b} (slurm {} {})",
                    j.job_id,
                    j.state.as_deref().unwrap_or("?")
                ),
                (Some(b), None) => b.clone(),
                (None, _) => "-".into(),
            };
            vec![
                s.name.clone(),
                s.state.as_str().to_string(),
                batch,
                s.consecutive_failures.to_string(),
                s.changed_at.as_deref().map(short_time).unwrap_or_default(),
                s.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    render_table(
        &[
            ("slot", Align::Left),
            ("state", Align::Left),
            ("batch", Align::Left),
            ("failures", Align::Right),
            ("changed", Align::Left),
            ("last error", Align::Left),
        ],
        &rows,
    )
}

pub fn run(remote: &Remote, command: SlotsCommand) -> Result<(), CliError> {
    let client = Client::new(remote);
    let (name, action) = match command {
        SlotsCommand::Ls { json } => {
            let slots: Vec<SlotView> = client.get(&format!("{API}/slots"))?;
            show_list(&slots, json, "no slots", table);
            return Ok(());
        }
        SlotsCommand::Drain { name } => (name, "drain"),
        SlotsCommand::Disable { name } => (name, "disable"),
        SlotsCommand::Enable { name } => (name, "enable"),
    };
    let slot: SlotView = client.post_empty(&format!("{API}/slots/{}/{action}", segment(&name)))?;
    print!("{}", table(std::slice::from_ref(&slot)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmosq_shared::api::SlotState;

    #[test]
    fn the_table_shows_state_batch_and_reason() {
        let slot = SlotView {
            name: "gpu1".into(),
            launcher: "local".into(),
            state: SlotState::Quarantined,
            batch_id: None,
            consecutive_failures: 3,
            last_error: Some("quarantined after 3 batches".into()),
            changed_at: Some("2026-12-02T10:00:00Z".into()),
            slurm: None,
        };
        let t = table(&[slot]);
        assert!(t.contains("gpu1"), "{t}");
        assert!(t.contains("quarantined"), "{t}");
        assert!(t.contains("2026-12-02 10:00:00"), "{t}");
        assert!(t.contains("quarantined after 3 batches"), "{t}");
    }

    #[test]
    fn actions_parse() {
        let c: SlotsCommand = crate::cli::parse_subcommand("slots", &["drain", "slot0"]).unwrap();
        assert!(matches!(c, SlotsCommand::Drain { name } if name == "slot0"));
        assert!(crate::cli::parse_subcommand::<SlotsCommand>("slots", &["drop", "x"]).is_err());
    }
}
