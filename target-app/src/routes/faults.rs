//! Seed 003's fault injectors: `/demo/slow`, `/demo/error`, `/demo/cpu`, `/demo/memory`, and
//! `/demo/panic`. Each call has a configurable cap (asking for more is a 422), and the memory and
//! CPU injectors share a [`DemoBudget`](crate::demo_budget::DemoBudget) across all concurrent calls: a call that would take the
//! process past it answers 503 at once, so N concurrent calls cannot hold N times the cap.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;
use kit::error::{ApiError, ApiResult};
use kit::extract::ApiQuery;

/// The routes of this file (merged only when `DEMO_ENABLED`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(slow))
        .routes(routes!(error))
        .routes(routes!(cpu))
        .routes(routes!(memory))
        .routes(routes!(panic))
}

fn capped(field: &str, value: u64, cap: u64) -> ApiResult<u64> {
    if value > cap {
        return Err(ApiError::invalid(field, format!("must be at most {cap} (configured cap)")));
    }
    Ok(value)
}

#[derive(Deserialize)]
struct SlowParams {
    delay_ms: Option<u64>,
}

/// Sleeps `delay_ms` (default 1000) before answering.
#[utoipa::path(get, path = "/demo/slow", tag = "Fault Injection",
    params(("delay_ms" = Option<u64>, Query, description = "Delay, default 1000 (or the cap if lower), capped by DEMO_MAX_DELAY_MS")),
    responses((status = 200, description = "Answered after the delay"), (status = 422, description = "Over the cap")))]
async fn slow(State(state): State<AppState>, ApiQuery(params): ApiQuery<SlowParams>) -> ApiResult<Json<Value>> {
    let delay = capped(
        "delay_ms",
        params.delay_ms.unwrap_or(1000.min(state.settings.faults.max_delay_ms)),
        state.settings.faults.max_delay_ms,
    )?;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    Ok(Json(json!({ "status": "ok", "delay_ms": delay })))
}

#[derive(Deserialize)]
struct ErrorParams {
    rate: Option<f64>,
    status: Option<u16>,
}

/// Fails with probability `rate` (default 1.0) and status `status` (default 500).
#[utoipa::path(get, path = "/demo/error", tag = "Fault Injection",
    params(("rate" = Option<f64>, Query, description = "Failure probability 0.0-1.0, default 1.0", minimum = 0, maximum = 1),
        ("status" = Option<u16>, Query, description = "Status to fail with, 400-599, default 500", minimum = 400, maximum = 599)),
    responses((status = 200, description = "Not failed this time"), (status = 500, description = "Injected failure"),
        (status = "4XX", description = "Injected failure with the requested client-error status"),
        (status = "5XX", description = "Injected failure with the requested server-error status"),
        (status = 422, description = "Bad rate or status")))]
async fn error(ApiQuery(params): ApiQuery<ErrorParams>) -> ApiResult<Json<Value>> {
    let rate = params.rate.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&rate) {
        return Err(ApiError::invalid("rate", "must be between 0.0 and 1.0"));
    }
    let status = params.status.unwrap_or(500);
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .ok_or_else(|| ApiError::invalid("status", "must be an HTTP error status from 400 to 599"))?;
    if rand::random::<f64>() < rate {
        return Err(ApiError::Injected(status));
    }
    Ok(Json(json!({ "status": "ok", "rate": rate })))
}

#[derive(Deserialize)]
struct CpuParams {
    duration_ms: Option<u64>,
}

/// Burns one core for `duration_ms` (default 1000) on a blocking thread, not the async runtime.
#[utoipa::path(get, path = "/demo/cpu", tag = "Fault Injection",
    params(("duration_ms" = Option<u64>, Query, description = "Busy time, default 1000 (or the cap if lower), capped by DEMO_MAX_CPU_MS")),
    responses((status = 200, description = "Burned"), (status = 422, description = "Over the cap"),
        (status = 503, description = "Every CPU burner (DEMO_MAX_CPU_BURNERS) is busy")))]
async fn cpu(State(state): State<AppState>, ApiQuery(params): ApiQuery<CpuParams>) -> ApiResult<Json<Value>> {
    let duration = capped(
        "duration_ms",
        params.duration_ms.unwrap_or(1000.min(state.settings.faults.max_cpu_ms)),
        state.settings.faults.max_cpu_ms,
    )?;
    let permit = state.demo.burner()?;
    let iterations = tokio::task::spawn_blocking(move || {
        let _burning = permit;
        let deadline = Instant::now() + Duration::from_millis(duration);
        let mut iterations: u64 = 0;
        let mut x: u64 = 1;
        while Instant::now() < deadline {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
            }
            iterations += 1;
        }
        iterations
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(json!({ "status": "ok", "duration_ms": duration, "iterations": iterations * 10_000 })))
}

#[derive(Deserialize)]
struct MemoryParams {
    mb: Option<u64>,
    hold_ms: Option<u64>,
}

/// Allocates and touches `mb` MiB (default 100), holds it `hold_ms` (default 1000), frees it.
#[utoipa::path(get, path = "/demo/memory", tag = "Fault Injection",
    params(("mb" = Option<u64>, Query, description = "MiB, default 100 (or the cap if lower), capped by DEMO_MAX_MEMORY_MB"),
        ("hold_ms" = Option<u64>, Query, description = "Hold time, default 1000 (or the cap if lower), capped by DEMO_MAX_DELAY_MS")),
    responses((status = 200, description = "Allocated, held and freed"), (status = 422, description = "Over a cap"),
        (status = 503, description = "The memory budget (DEMO_MAX_MEMORY_MB over all calls) cannot hold it now")))]
async fn memory(State(state): State<AppState>, ApiQuery(params): ApiQuery<MemoryParams>) -> ApiResult<Json<Value>> {
    let faults = &state.settings.faults;
    let mb = capped("mb", params.mb.unwrap_or(100.min(faults.max_memory_mb)), faults.max_memory_mb)?;
    let hold = capped("hold_ms", params.hold_ms.unwrap_or(1000.min(faults.max_delay_ms)), faults.max_delay_ms)?;
    let permit = state.demo.memory(mb)?;
    // The permit travels with the block, so it is returned only when the block is freed.
    let (block, permit) = tokio::task::spawn_blocking(move || {
        let mut block = vec![0u8; (mb as usize) * 1024 * 1024];
        // Touch every page so the memory is really resident.
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        (std::hint::black_box(block), permit)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    tokio::time::sleep(Duration::from_millis(hold)).await;
    let touched = block.iter().step_by(4096).filter(|b| **b == 1).count();
    drop(block);
    drop(permit);
    Ok(Json(json!({ "status": "ok", "allocated_mb": mb, "hold_ms": hold, "pages_touched": touched })))
}

/// Panics inside the handler: the panic is caught, answered as the documented 500 and counted in
/// `http_requests_total` like any other 500.
#[utoipa::path(get, path = "/demo/panic", tag = "Fault Injection",
    responses((status = 500, description = "The handler panicked (intended)")))]
async fn panic() -> Json<Value> {
    panic!("/demo/panic was called")
}
