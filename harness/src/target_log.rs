//! The self-hosted target's log, bounded: every process the harness hosts (target-app, or each
//! shop service) writes into one file, so a request id's lines from every service are together.
//! target-app writes one JSON access-log line per
//! request (about 2 GB an hour at 2,000 req/s), so its stdout and stderr pass through a
//! [`LogFilter`] into `target.log`: warnings, errors, failed requests (status >= 400) and lines
//! that are not JSON (a panic) are kept in full; the other lines are kept for the first
//! [`KEEP_FIRST`], then one in [`SAMPLE_EVERY`]; nothing is written past [`MAX_BYTES`]. The
//! report's [`TargetLog`] says how many lines each rule dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;

use crate::report::model::TargetLog;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};

/// Routine lines kept before sampling starts.
pub const KEEP_FIRST: u64 = 1_000;
/// After that, one routine line in this many is kept.
pub const SAMPLE_EVERY: u64 = 100;
/// The log file never grows past this.
pub const MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Lines shown beside one failure sample, and characters per line.
const LINES_PER_REQUEST: usize = 10;
const LINE_CHARS: usize = 1_000;

/// Decides, line by line, what goes into the file.
#[derive(Debug, Default)]
pub struct LogFilter {
    log: TargetLog,
    routine: u64,
    bytes: u64,
}

impl LogFilter {
    /// A filter writing to `file`.
    pub fn new(file: &str) -> Self {
        let bound = format!(
            "warnings, errors, failed requests and non-JSON lines in full; other lines: the first {KEEP_FIRST}, then 1 in {SAMPLE_EVERY}; at most {} MiB",
            MAX_BYTES / 1024 / 1024
        );
        Self { log: TargetLog { file: file.to_owned(), bound, ..TargetLog::default() }, routine: 0, bytes: 0 }
    }

    /// Whether `line` is written; counts it either way.
    pub fn keep(&mut self, line: &str) -> bool {
        self.log.lines += 1;
        let keep = if always_kept(line) {
            true
        } else {
            self.routine += 1;
            let sampled = self.routine <= KEEP_FIRST || self.routine.is_multiple_of(SAMPLE_EVERY);
            self.log.sampled_out += u64::from(!sampled);
            sampled
        };
        if !keep {
            return false;
        }
        if self.bytes + line.len() as u64 + 1 > MAX_BYTES {
            self.log.over_size += 1;
            return false;
        }
        self.bytes += line.len() as u64 + 1;
        self.log.written += 1;
        true
    }

    /// What was written and dropped.
    pub fn summary(self) -> TargetLog {
        self.log
    }
}

fn always_kept(line: &str) -> bool {
    if !line.trim_start().starts_with('{') {
        return true;
    }
    if line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\"") {
        return true;
    }
    line.split_once("\"status_code\":")
        .and_then(|(_, rest)| rest.get(..3))
        .and_then(|digits| digits.parse::<u16>().ok())
        .is_some_and(|status| status >= 400)
}

/// Lines the hosted processes wrote, waiting to be filtered into the log. Bounded: a process
/// that writes faster than the file takes them waits on its pipe.
pub type Lines = tokio::sync::mpsc::Sender<String>;

/// Starts writing `path` through a [`LogFilter`], each kept line masked by `redactor` (a secret
/// in a request path reaches the target's access log); the task ends, with the summary, once
/// every [`Lines`] sender is dropped.
pub fn recorder(
    path: &Path,
    redactor: crate::redact::Redactor,
) -> (Lines, tokio::task::JoinHandle<std::io::Result<TargetLog>>) {
    let (sender, mut lines) = tokio::sync::mpsc::channel::<String>(1024);
    let path = path.to_owned();
    let task = tokio::spawn(async move {
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let mut filter = LogFilter::new(&name);
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(&path).await?);
        while let Some(line) = lines.recv().await {
            if filter.keep(&line) {
                let mut line = redactor.text(&line);
                line.push('\n');
                file.write_all(line.as_bytes()).await?;
            }
        }
        file.flush().await?;
        Ok(filter.summary())
    });
    (sender, task)
}

/// Passes a process's stdout and stderr lines to `lines` until both close. With a `service`
/// name, JSON lines get a `"service"` field first, so one log can hold several processes.
pub async fn forward(
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
    service: Option<String>,
    lines: Lines,
) {
    let (mut out, mut err) = (BufReader::new(stdout).lines(), BufReader::new(stderr).lines());
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let line = tokio::select! {
            line = out.next_line(), if out_open => line.ok().flatten().or_else(|| { out_open = false; None }),
            line = err.next_line(), if err_open => line.ok().flatten().or_else(|| { err_open = false; None }),
        };
        let Some(line) = line else { continue };
        let line = match (&service, line.strip_prefix('{')) {
            (Some(service), Some(rest)) => format!("{{\"service\":\"{service}\",{rest}"),
            _ => line,
        };
        if lines.send(line).await.is_err() {
            return;
        }
    }
}

/// The log lines of each request id in `ids`, at most ten per id, each cut to 1,000 characters,
/// read in one pass over the file.
pub fn lines_for(path: &Path, ids: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Ok(file) = std::fs::File::open(path) else {
        return found;
    };
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        let Some(id) = request_id(&line).filter(|id| ids.contains(*id)) else {
            continue;
        };
        let lines = found.entry(id.to_owned()).or_default();
        if lines.len() < LINES_PER_REQUEST {
            lines.push(line.chars().take(LINE_CHARS).collect());
        }
    }
    found
}

fn request_id(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("\"request_id\":\"")?;
    rest.split_once('"').map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"level":"INFO","status_code":200,"span":{"request_id":"a"}}"#;
    const FAILED: &str = r#"{"level":"INFO","status_code":503,"span":{"request_id":"b"}}"#;
    const WARNING: &str = r#"{"level":"WARN","message":"breaker opened"}"#;

    #[test]
    fn failures_warnings_and_panics_are_kept_and_routine_lines_sampled() {
        let mut filter = LogFilter::new("target.log");
        let kept_ok = (0..KEEP_FIRST + 1_000).filter(|_| filter.keep(OK)).count() as u64;
        assert_eq!(kept_ok, KEEP_FIRST + 1_000 / SAMPLE_EVERY);
        assert!((0..500).all(|_| filter.keep(FAILED)), "every failed request is kept");
        assert!(filter.keep(WARNING));
        assert!(filter.keep("thread 'main' panicked at src/main.rs"));
        let summary = filter.summary();
        assert_eq!(summary.lines, KEEP_FIRST + 1_000 + 502);
        assert_eq!(summary.sampled_out, 1_000 - 1_000 / SAMPLE_EVERY);
        assert_eq!(summary.written, summary.lines - summary.sampled_out);
    }

    #[test]
    fn the_file_stops_at_its_size_bound_and_counts_what_it_left_out() {
        let mut filter = LogFilter::new("target.log");
        let big = format!(r#"{{"level":"ERROR","message":"{}"}}"#, "x".repeat(1024 * 1024));
        let kept = (0..60).filter(|_| filter.keep(&big)).count() as u64;
        assert!(kept < 50, "{kept} MiB written");
        assert_eq!(filter.summary().over_size, 60 - kept);
    }

    #[test]
    fn lines_are_found_by_request_id_in_one_pass() {
        let path = std::env::temp_dir().join(format!("gauntlet-log-{}", std::process::id()));
        std::fs::write(&path, format!("{OK}\n{FAILED}\n{WARNING}\n{FAILED}\n")).unwrap();
        let found = lines_for(&path, &["b".to_owned(), "z".to_owned()].into());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(found["b"].len(), 2);
        assert!(!found.contains_key("a") && !found.contains_key("z"));
    }
}
