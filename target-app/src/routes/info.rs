//! `GET /api/version` and `GET /api/info`: identity, uptime and process/host resource use.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use sysinfo::{ProcessesToUpdate, get_current_pid};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::identity::identity;
use crate::rendered::RenderedJson;
use crate::state::AppState;

/// The routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(version)).routes(routes!(info))
}

/// Application version.
#[utoipa::path(get, path = "/api/version", responses((status = 200, description = "Version and build")))]
async fn version(State(state): State<AppState>) -> RenderedJson {
    state.version.clone()
}

/// Version plus uptime and process/host CPU and memory.
#[utoipa::path(get, path = "/api/info", responses((status = 200, description = "Runtime information")))]
async fn info(State(state): State<AppState>) -> Json<Value> {
    let mut body = identity(&state.settings);
    let resources = {
        let mut system = state.system.lock().expect("sysinfo lock");
        system.refresh_memory();
        system.refresh_cpu_usage();
        let pid = get_current_pid().ok();
        if let Some(pid) = pid {
            system.refresh_processes(ProcessesToUpdate::Some(&[pid]), false);
        }
        let process = pid.and_then(|pid| system.process(pid));
        json!({
            "process": {
                "pid": pid.map(|p| p.as_u32()),
                "cpu_percent": process.map(|p| p.cpu_usage()),
                "memory_bytes": process.map(|p| p.memory()),
            },
            "host": {
                "cpu_count": system.cpus().len(),
                "cpu_percent": system.global_cpu_usage(),
                "memory_total_bytes": system.total_memory(),
                "memory_used_bytes": system.used_memory(),
            },
        })
    };
    body["uptime_seconds"] = json!(state.started.0.elapsed().as_secs_f64());
    body["process"] = resources["process"].clone();
    body["host"] = resources["host"].clone();
    Json(body)
}
