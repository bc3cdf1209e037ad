//! Log and trace subscriber setup, called once by `main`: `EnvFilter` (default `info`), JSON
//! lines when `LOG_FORMAT=json`, optionally a daily-rotated JSON file (`LOG_FILE`), and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans exported over OTLP/HTTP as the OpenTelemetry
//! specification's variables say (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER(_ARG)`,
//! `OTEL_BSP_*`); see [`crate::trace`].

use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::LogSettings;
use crate::trace;

/// What must live as long as the process: the log file's writer and the span exporter, which
/// flush when dropped.
pub struct Guard {
    _file: Option<WorkerGuard>,
    traces: Option<SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.traces.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber for the service `name` (`OTEL_SERVICE_NAME` wins); keep the
/// returned guard alive. An exporter that cannot be built is logged and traces stay off.
pub fn init(settings: &LogSettings, name: &str) -> Guard {
    // Spans and events of a trace never reach the logs.
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info"))
            .add_directive(format!("{}=off", trace::TARGET).parse().expect("a valid directive"))
    };
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
    let exporter = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").map(|_| tracer_provider(name));
    let (traces, provider) = match exporter {
        Some(Ok(provider)) => {
            // The trace's own spans and events, and warnings from anywhere inside them.
            let only = Targets::new().with_target(trace::TARGET, Level::INFO).with_default(Level::WARN);
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("gauntlet")).with_filter(only);
            trace::enable();
            (Some(layer.boxed()), Some(provider))
        }
        Some(Err(error)) => {
            eprintln!("traces stay off: the OTLP exporter could not be built: {error}");
            (None, None)
        }
        None => (None, None),
    };
    tracing_subscriber::registry().with(stdout.with_filter(filter())).with(file).with(traces).init();
    Guard { _file: guard, traces: provider }
}

/// Spans batched to `OTEL_EXPORTER_OTLP_ENDPOINT` over OTLP/HTTP protobuf.
fn tracer_provider(name: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter =
        opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary).build()?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(name.to_owned());
    }
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build())
}
