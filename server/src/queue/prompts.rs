//! Prompts: add (the video probed first), list, show, delete.

use super::Queue;
use crate::error::Error;
use crate::ids;
use crate::probe;
use cosmosq_shared::api::{Prompt, PromptInput};
use cosmosq_shared::{Control, ErrorCode};
use std::collections::BTreeMap;

const MAX_TEXT: usize = 10_000;
const MAX_NAME: usize = 200;

fn check_text(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.chars().count() > max {
        return Err(Error::new(
            ErrorCode::TextTooLong,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(Error::new(
            ErrorCode::TextHasControlCharacters,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// A short default name: the first words of the prompt text.
fn default_name(text: &str) -> String {
    let mut name = String::new();
    for word in text.split_whitespace().take(8) {
        if name.chars().count() + word.chars().count() > 60 {
            break;
        }
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(word);
    }
    if name.is_empty() {
        "prompt".into()
    } else {
        name
    }
}

impl Queue {
    /// Check the input, probe the video (outside the lock: it runs ffprobe), store the prompt.
    pub fn add_prompt(&self, input: PromptInput) -> Result<Prompt, Error> {
        let text = input.text.trim().to_string();
        if text.is_empty() {
            return Err(Error::new(
                ErrorCode::TextRequired,
                "text must not be empty",
            ));
        }
        check_text("text", &text, MAX_TEXT)?;
        let name = match input.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => default_name(&text),
        };
        check_text("name", &name, MAX_NAME)?;
        let negative_prompt = input.negative_prompt.filter(|n| !n.trim().is_empty());
        if let Some(n) = &negative_prompt {
            check_text("negative_prompt", n, MAX_TEXT)?;
        }
        let roots = &self.config.allowed_roots;
        let mut control_videos = BTreeMap::new();
        for (key, path) in &input.control_videos {
            let control: Control =
                key.parse()
                    .map_err(|e: cosmosq_shared::control::UnknownControl| {
                        Error::new(ErrorCode::UnknownControl, e.to_string())
                    })?;
            let path = probe::check_path(path, &format!("control_videos.{key}"), roots)?;
            control_videos.insert(control, path.display().to_string());
        }
        let input_video = probe::check_path(&input.input_video, "input_video", roots)?;
        let timeout = std::time::Duration::from_secs_f64(self.config.probe_timeout_seconds);
        let video = probe::probe(&self.config.ffprobe, &input_video, timeout)?;
        let prompt = Prompt {
            id: ids::new_id("ps"),
            name,
            text,
            negative_prompt,
            input_video: input_video.display().to_string(),
            video,
            control_videos,
            created_at: ids::now(),
        };
        self.mutate(|_, change| {
            change
                .prompts
                .push((prompt.id.clone(), Some(prompt.clone())));
            Ok(())
        })?;
        Ok(prompt)
    }

    /// Prompts, newest first.
    pub fn prompts(&self) -> Vec<Prompt> {
        let state = self.lock();
        let mut prompts: Vec<Prompt> = state.prompts.values().cloned().collect();
        prompts.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
        prompts
    }

    pub fn prompt(&self, id: &str) -> Result<Prompt, Error> {
        self.lock()
            .prompts
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(ErrorCode::PromptNotFound, "prompt", id))
    }

    /// Delete a prompt no queued or running job needs (finished jobs keep their history).
    pub fn delete_prompt(&self, id: &str) -> Result<(), Error> {
        self.mutate(|state, change| {
            if !state.prompts.contains_key(id) {
                return Err(Error::not_found(ErrorCode::PromptNotFound, "prompt", id));
            }
            let busy = state
                .jobs
                .values()
                .any(|r| r.job.prompt_id == id && !r.job.status.is_terminal());
            if busy {
                return Err(Error::new(
                    ErrorCode::PromptInUse,
                    "queued or running jobs use this prompt; cancel them first",
                ));
            }
            change.prompts.push((id.to_string(), None));
            Ok(())
        })
    }
}
