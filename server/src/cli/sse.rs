//! Server-Sent Events: the WHATWG line rules, and the daemon's events parsed from them.

use super::CliError;
use cosmosq_shared::api::Event;
use std::io::{self, BufRead};

/// One raw SSE message: its event name (`message` when none was given) and its data lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    pub event: String,
    pub data: String,
}

/// Reads SSE messages line by line from a (streaming) reader, following the WHATWG rules:
/// `:` lines are comments (keep-alives), `data:` lines accumulate, a blank line dispatches.
pub struct SseReader<R> {
    reader: R,
    line: Vec<u8>,
}

impl<R: BufRead> SseReader<R> {
    pub fn new(reader: R) -> Self {
        SseReader {
            reader,
            line: Vec::new(),
        }
    }

    /// The next complete message; `None` at the end of the stream (an unfinished message at
    /// the end is dropped, as the standard says).
    pub fn next_message(&mut self) -> io::Result<Option<SseMessage>> {
        let mut event = String::new();
        let mut data: Option<String> = None;
        loop {
            self.line.clear();
            if self.reader.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(None);
            }
            let text = String::from_utf8_lossy(&self.line);
            let line = text.trim_end_matches('\n').trim_end_matches('\r');
            if line.is_empty() {
                match data.take() {
                    Some(data) => {
                        let event = if event.is_empty() {
                            "message".to_string()
                        } else {
                            event
                        };
                        return Ok(Some(SseMessage { event, data }));
                    }
                    None => {
                        event.clear();
                        continue;
                    }
                }
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => event = value.to_string(),
                "data" => match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                },
                _ => {} // id, retry and unknown fields: not needed here
            }
        }
    }
}

/// The daemon's events, parsed into [`Event`]s.
pub struct EventStream {
    sse: SseReader<Box<dyn BufRead + Send>>,
}

impl EventStream {
    pub fn new(reader: impl BufRead + Send + 'static) -> Self {
        EventStream {
            sse: SseReader::new(Box::new(reader)),
        }
    }

    /// The next event; `None` when the daemon closed the stream. Events of unknown types (a
    /// newer daemon) are skipped.
    pub fn next_event(&mut self) -> Result<Option<Event>, CliError> {
        loop {
            let message = self.sse.next_message().map_err(|e| {
                CliError::unavailable(format!("lost the daemon's event stream: {e}"))
            })?;
            let Some(message) = message else {
                return Ok(None);
            };
            if let Some(event) = parse_event(&message)? {
                return Ok(Some(event));
            }
        }
    }
}

/// Parse one SSE message into an [`Event`]; `Ok(None)` for message types this client does not
/// know.
pub fn parse_event(message: &SseMessage) -> Result<Option<Event>, CliError> {
    match message.event.as_str() {
        "resync" => Ok(Some(Event::Resync)),
        "job" | "batch" | "progress" | "queue" => {
            serde_json::from_str(&message.data).map(Some).map_err(|e| {
                CliError::unavailable(format!(
                    "malformed `{}` event from the daemon: {e}",
                    message.event
                ))
            })
        }
        // Untyped messages may still carry a tagged event.
        "message" => Ok(serde_json::from_str(&message.data).ok()),
        _ => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------------
// Output helpers

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn sse_messages_skip_comments_and_join_data_lines() {
        let text = ": keep-alive\n\nevent: job\ndata: {\"a\":\ndata: 1}\n\n:ping\r\nevent: queue\r\ndata:x\r\n\r\ndata: no name\n\nevent: partial\ndata: y";
        let mut sse = SseReader::new(Cursor::new(text.as_bytes()));
        let m = sse.next_message().unwrap().unwrap();
        assert_eq!((m.event.as_str(), m.data.as_str()), ("job", "{\"a\":\n1}"));
        let m = sse.next_message().unwrap().unwrap();
        assert_eq!((m.event.as_str(), m.data.as_str()), ("queue", "x"));
        let m = sse.next_message().unwrap().unwrap();
        assert_eq!((m.event.as_str(), m.data.as_str()), ("message", "no name"));
        assert_eq!(sse.next_message().unwrap(), None);
    }

    #[test]
    fn event_stream_parses_events_and_skips_unknown_types() {
        let text = "event: progress\ndata: {\"type\":\"progress\",\"batch_id\":\"bt_1\",\"progress\":0.5,\"log_tail\":[\"step 3\"]}\n\n\
                    event: hello\ndata: {}\n\n\
                    event: resync\ndata: {\"type\":\"resync\"}\n\n";
        let mut events = EventStream::new(Cursor::new(text.as_bytes().to_vec()));
        assert_eq!(
            events.next_event().unwrap(),
            Some(Event::Progress {
                batch_id: "bt_1".into(),
                progress: 0.5,
                log_tail: vec!["step 3".into()],
            })
        );
        assert_eq!(events.next_event().unwrap(), Some(Event::Resync));
        assert_eq!(events.next_event().unwrap(), None);

        let bad = SseMessage {
            event: "batch".into(),
            data: "{}".into(),
        };
        assert_eq!(
            parse_event(&bad).unwrap_err().exit_code,
            super::super::EXIT_UNAVAILABLE
        );
    }
}
