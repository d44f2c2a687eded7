//! Presets: named run settings, kept with the queue's settings (at most `MAX_PRESETS`).

use super::Queue;
use crate::error::Error;
use crate::ids;
use cosmosq_shared::api::{preset_name_ok, Preset, PresetInput, MAX_PRESETS, MAX_PRESET_NAME};
use cosmosq_shared::{ErrorCode, JobConfig, JobKind};

impl Queue {
    /// Every preset, by name.
    pub fn presets(&self) -> Vec<Preset> {
        self.lock().meta().presets.values().cloned().collect()
    }

    /// Create the preset, or replace the one of its name. Its settings are checked as a job's
    /// would be on this executor.
    pub fn save_preset(&self, input: PresetInput) -> Result<Preset, Error> {
        if !preset_name_ok(&input.name) {
            return Err(Error::new(
                ErrorCode::InvalidPresetName,
                format!(
                    "a preset name is 1 to {MAX_PRESET_NAME} letters, digits, '-', '_', '.' or inner spaces; got {:?}",
                    input.name
                ),
            ));
        }
        let kind = input.kind.unwrap_or_default();
        let profile = self.config.executor.profile;
        // A preset may leave the controls to the job that uses it (steps and seed only, say):
        // then its values are checked against their ranges only (the rule "an inference job
        // needs a control" is for jobs; `Upscale` validates without it).
        let controls = input.config.weights.values().any(|w| *w > 0.0);
        let checked_as = if controls { kind } else { JobKind::Upscale };
        let config =
            JobConfig::from_input_with(input.config.clone(), checked_as, &profile.defaults())?;
        if controls {
            profile
                .check(kind, &config, cosmosq_shared::video::DEFAULT_FRAMES)
                .map_err(|e| Error::new(e.code, e.message))?;
        }
        let preset = Preset {
            name: input.name,
            kind: input.kind,
            config: input.config,
            created_at: ids::now(),
        };
        self.mutate(|state, change| {
            let mut meta = state.meta().clone();
            if !meta.presets.contains_key(&preset.name) && meta.presets.len() >= MAX_PRESETS {
                return Err(Error::new(
                    ErrorCode::TooManyPresets,
                    format!("the daemon keeps at most {MAX_PRESETS} presets: delete one first"),
                ));
            }
            meta.presets.insert(preset.name.clone(), preset.clone());
            change.meta = Some(meta);
            Ok(())
        })?;
        Ok(preset)
    }

    pub fn delete_preset(&self, name: &str) -> Result<(), Error> {
        self.mutate(|state, change| {
            let mut meta = state.meta().clone();
            if meta.presets.remove(name).is_none() {
                return Err(Error::new(
                    ErrorCode::PresetNotFound,
                    format!("no preset named {name:?}"),
                ));
            }
            change.meta = Some(meta);
            Ok(())
        })
    }
}
