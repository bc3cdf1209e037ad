//! Log subscriber setup, called once by `main`: `EnvFilter` (default `info`), JSON lines when
//! `LOG_FORMAT=json`, and optionally a daily-rotated JSON file (`LOG_FILE`).

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::LogSettings;

/// Installs the global subscriber; keep the returned guard alive so the file writer flushes.
pub fn init(settings: &LogSettings) -> Option<WorkerGuard> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stdout = if settings.json {
        fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false).boxed()
    } else {
        fmt::layer().boxed()
    };
    let (file, guard) = match &settings.file {
        Some(path) => {
            let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let name = path.file_name().map_or_else(|| "target-app.log".into(), |n| n.to_string_lossy().into_owned());
            let (writer, guard) = tracing_appender::non_blocking(tracing_appender::rolling::daily(directory, name));
            let layer = fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(writer);
            (Some(layer.with_filter(filter()).boxed()), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry().with(stdout.with_filter(filter())).with(file).init();
    guard
}
