//! `cosmosq prompt ...`: client subcommands over the REST API.

use super::http::{segment, Client, API};
use super::output::{
    pretty_json, render_table, short_time, show_created, show_list, truncate, AddOutput, Align,
};
use super::{CliError, Remote};
use clap::{Args, Subcommand};
use cosmosq_shared::api::{Prompt, PromptInput};
use cosmosq_shared::Control;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum PromptCommand {
    /// Create a prompt: text plus the input video (the daemon probes the video).
    Add(AddArgs),
    /// List prompts.
    Ls {
        /// Print the prompts as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print one prompt as JSON.
    Show {
        /// Prompt id (`ps_...`).
        id: String,
    },
    /// Delete a prompt.
    Rm {
        /// Prompt id (`ps_...`).
        id: String,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// The prompt text.
    #[arg(long)]
    text: String,
    /// Input video; a relative path is made absolute against the current directory (the
    /// daemon reads it on its own machine).
    #[arg(long, value_name = "PATH")]
    video: PathBuf,
    /// Short label (default: the first words of the text).
    #[arg(long)]
    name: Option<String>,
    /// Negative prompt (default: the program's own).
    #[arg(long)]
    negative_prompt: Option<String>,
    /// Input video for one control, e.g. `depth=clip_depth.mp4` (repeatable; controls without
    /// one are generated on the fly).
    #[arg(long = "control-video", value_name = "CONTROL=PATH", value_parser = parse_control_video)]
    control_videos: Vec<(Control, PathBuf)>,
    #[command(flatten)]
    output: AddOutput,
}

/// Parse `CONTROL=PATH` of `--control-video`.
pub fn parse_control_video(arg: &str) -> Result<(Control, PathBuf), String> {
    let (name, path) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected CONTROL=PATH (e.g. depth=depth.mp4), got `{arg}`"))?;
    let control: Control = name.trim().parse().map_err(|e| format!("{e}"))?;
    if path.trim().is_empty() {
        return Err(format!("missing the path of the `{control}` control video"));
    }
    Ok((control, PathBuf::from(path)))
}

/// `path` made absolute against the current directory (not resolved: the daemon may see
/// another filesystem), as UTF-8 text for the JSON body.
pub fn absolute_path(path: &Path) -> Result<String, CliError> {
    let absolute = std::path::absolute(path)
        .map_err(|e| CliError::bad_input(format!("invalid path {}: {e}", path.display())))?;
    absolute.into_os_string().into_string().map_err(|p| {
        CliError::bad_input(format!(
            "path {} is not valid UTF-8",
            PathBuf::from(p).display()
        ))
    })
}

/// The request body of `prompt add`.
pub fn prompt_input(args: &AddArgs) -> Result<PromptInput, CliError> {
    let mut control_videos = BTreeMap::new();
    for (control, path) in &args.control_videos {
        if control_videos
            .insert(control.as_str().to_string(), absolute_path(path)?)
            .is_some()
        {
            return Err(CliError::bad_input(format!(
                "--control-video {control} is given more than once"
            )));
        }
    }
    Ok(PromptInput {
        name: args.name.clone(),
        text: args.text.clone(),
        negative_prompt: args.negative_prompt.clone(),
        input_video: absolute_path(&args.video)?,
        control_videos,
    })
}

/// One line about a prompt.
pub fn summary(p: &Prompt) -> String {
    format!(
        "prompt {} \"{}\": {} frames, {}x{} at {} fps",
        p.id, p.name, p.video.frames, p.video.width, p.video.height, p.video.fps
    )
}

/// Prompts as a table: id, name, frames, size, created.
pub fn table(prompts: &[Prompt]) -> String {
    let rows: Vec<Vec<String>> = prompts
        .iter()
        .map(|p| {
            vec![
                p.id.clone(),
                truncate(&p.name, 40),
                p.video.frames.to_string(),
                format!("{}x{}", p.video.width, p.video.height),
                short_time(&p.created_at),
            ]
        })
        .collect();
    render_table(
        &[
            ("id", Align::Left),
            ("name", Align::Left),
            ("frames", Align::Right),
            ("size", Align::Left),
            ("created (UTC)", Align::Left),
        ],
        &rows,
    )
}

pub fn run(remote: &Remote, command: PromptCommand) -> Result<(), CliError> {
    let client = Client::new(remote);
    match command {
        PromptCommand::Add(args) => {
            let input = prompt_input(&args)?;
            let prompt: Prompt = client.post(&format!("{API}/prompts"), &input)?;
            let sentence = format!("created {}", summary(&prompt));
            show_created(&prompt, &prompt.id, args.output, sentence);
        }
        PromptCommand::Ls { json } => {
            let prompts: Vec<Prompt> = client.get(&format!("{API}/prompts"))?;
            let empty = "no prompts (create one with `cosmosq prompt add --text ... --video ...`)";
            show_list(&prompts, json, empty, table);
        }
        PromptCommand::Show { id } => {
            let prompt: Prompt = client.get(&format!("{API}/prompts/{}", segment(&id)))?;
            println!("{}", pretty_json(&prompt));
        }
        PromptCommand::Rm { id } => {
            client.delete(&format!("{API}/prompts/{}", segment(&id)))?;
            println!("deleted prompt {id}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmosq_shared::api::VideoInfo;
    use cosmosq_shared::AspectBucket;

    fn parse(args: &[&str]) -> Result<PromptCommand, clap::Error> {
        crate::cli::parse_subcommand("prompt", args)
    }

    #[test]
    fn control_video_needs_a_known_control_and_a_path() {
        assert_eq!(
            parse_control_video("depth=/d.mp4").unwrap(),
            (Control::Depth, PathBuf::from("/d.mp4"))
        );
        assert!(parse_control_video("depth")
            .unwrap_err()
            .contains("CONTROL=PATH"));
        assert!(parse_control_video("sketch=/a.mp4")
            .unwrap_err()
            .contains("sketch"));
        assert!(parse_control_video("edge=").unwrap_err().contains("path"));
    }

    #[test]
    fn add_makes_paths_absolute_and_rejects_duplicate_controls() {
        let Ok(PromptCommand::Add(args)) = parse(&[
            "add",
            "--text",
            "a robot arm",
            "--video",
            "clip.mp4",
            "--control-video",
            "depth=/abs/depth.mp4",
            "--control-video",
            "edge=edge.mp4",
        ]) else {
            panic!("add should parse");
        };
        let input = prompt_input(&args).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            input.input_video,
            cwd.join("clip.mp4").to_str().unwrap().to_string()
        );
        assert_eq!(input.control_videos["depth"], "/abs/depth.mp4");
        assert_eq!(
            input.control_videos["edge"],
            cwd.join("edge.mp4").to_str().unwrap()
        );
        assert_eq!(input.name, None);
        assert_eq!(input.text, "a robot arm");

        let Ok(PromptCommand::Add(args)) = parse(&[
            "add",
            "--text",
            "t",
            "--video",
            "/v.mp4",
            "--control-video",
            "edge=/a.mp4",
            "--control-video",
            "edge=/b.mp4",
        ]) else {
            panic!("add should parse");
        };
        let e = prompt_input(&args).unwrap_err();
        assert_eq!(e.exit_code, super::super::EXIT_BAD_INPUT);
    }

    #[test]
    fn add_requires_text_and_video() {
        assert!(parse(&["add", "--video", "/v.mp4"]).is_err());
        assert!(parse(&["add", "--text", "t"]).is_err());
        assert!(parse(&["add", "--text", "t", "--video", "/v", "-q", "--json"]).is_err());
    }

    #[test]
    fn table_lists_id_name_frames_size_and_created() {
        let prompt = Prompt {
            id: "ps_01".into(),
            name: "robot".into(),
            text: "a robot".into(),
            negative_prompt: None,
            input_video: "/v.mp4".into(),
            video: VideoInfo {
                frames: 121,
                fps: 24.0,
                width: 1280,
                height: 720,
                aspect_bucket: AspectBucket::default(),
            },
            control_videos: BTreeMap::new(),
            created_at: "2025-01-02T03:04:05Z".into(),
        };
        assert_eq!(
            table(std::slice::from_ref(&prompt)),
            "id     name   frames  size      created (UTC)\n\
             ps_01  robot     121  1280x720  2025-01-02 03:04:05\n"
        );
        assert_eq!(
            summary(&prompt),
            "prompt ps_01 \"robot\": 121 frames, 1280x720 at 24 fps"
        );
    }
}
