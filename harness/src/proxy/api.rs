//! The Toxiproxy HTTP API over [`Proxies`], so existing Toxiproxy clients (toxiproxy-python,
//! toxiproxy-node-client, Chaos Toolkit's extension) drive Gauntlet's proxies unchanged.
//! Statuses and bodies follow Toxiproxy's `api.go`: 201 for a created proxy, 200 for a created
//! toxic, 204 for deletes and `/reset`, errors as `{"error", "status"}`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::toxic::{Kind, Stream, Toxic, ToxicType};
use super::{NewProxy, Proxies, ProxyError, ProxyUpdate};

/// The routes, on the registry `proxies`.
pub fn router(proxies: Proxies) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(list).post(create))
        .route("/proxies/{proxy}", get(show).post(update).patch(update).delete(delete))
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic).post(update_toxic).patch(update_toxic).delete(remove_toxic),
        )
        .layer(axum::middleware::from_fn(refuse_browsers))
        .with_state(proxies)
}

/// An API error in Toxiproxy's shape.
struct ApiError(StatusCode, String);

impl From<ProxyError> for ApiError {
    fn from(error: ProxyError) -> Self {
        let status = match error {
            ProxyError::NotFound(_) => StatusCode::NOT_FOUND,
            ProxyError::Exists(_) => StatusCode::CONFLICT,
            ProxyError::Invalid(_) => StatusCode::BAD_REQUEST,
            ProxyError::Listen { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1, "status": self.0.as_u16()}))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

/// Parses a JSON body, answering 400 with the reason instead of axum's rejection.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| bad_request(format!("bad request body: {e}")))
}

/// Toxiproxy refuses browsers (a CSRF guard): any `User-Agent` starting with `Mozilla/`.
async fn refuse_browsers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let browser = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|agent| agent.starts_with("Mozilla/"));
    if browser {
        return ApiError(StatusCode::FORBIDDEN, "User agent not allowed".into()).into_response();
    }
    next.run(request).await
}

/// The version as a semver string, as Toxiproxy answers it (clients compare it).
async fn version() -> Json<Value> {
    Json(json!({"version": env!("CARGO_PKG_VERSION")}))
}

async fn reset(State(proxies): State<Proxies>) -> ApiResult<StatusCode> {
    proxies.reset().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn populate(State(proxies): State<Proxies>, bytes: axum::body::Bytes) -> Response {
    let new: Vec<NewProxy> = match body(&bytes) {
        Ok(new) => new,
        Err(error) => return error.into_response(),
    };
    match proxies.populate(new).await {
        Ok(done) => (StatusCode::CREATED, Json(json!({"proxies": done}))).into_response(),
        Err((error, done)) => {
            let ApiError(status, message) = error.into();
            (status, Json(json!({"error": message, "status": status.as_u16(), "proxies": done}))).into_response()
        }
    }
}

async fn list(State(proxies): State<Proxies>) -> Json<Value> {
    Json(json!(proxies.list().await))
}

async fn create(State(proxies): State<Proxies>, bytes: axum::body::Bytes) -> ApiResult<(StatusCode, Json<Value>)> {
    let new: NewProxy = body(&bytes)?;
    Ok((StatusCode::CREATED, Json(json!(proxies.create(new).await?))))
}

async fn show(State(proxies): State<Proxies>, Path(proxy): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(proxies.get(&proxy).await?)))
}

async fn update(
    State(proxies): State<Proxies>,
    Path(proxy): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let change: ProxyUpdate = body(&bytes)?;
    Ok(Json(json!(proxies.update(&proxy, change).await?)))
}

async fn delete(State(proxies): State<Proxies>, Path(proxy): Path<String>) -> ApiResult<StatusCode> {
    proxies.delete(&proxy).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn toxics(State(proxies): State<Proxies>, Path(proxy): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(proxies.toxics(&proxy).await?)))
}

/// Toxiproxy's defaults: stream `downstream`, toxicity 1, name `<type>_<stream>`.
async fn add_toxic(
    State(proxies): State<Proxies>,
    Path(proxy): Path<String>,
    bytes: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let request: Value = body(&bytes)?;
    let stream_name = request.get("stream").and_then(Value::as_str).unwrap_or("downstream");
    let stream = Stream::parse(stream_name)
        .ok_or_else(|| bad_request(format!("stream was invalid: {stream_name:?} (upstream or downstream)")))?;
    let kind = kind_of(&request)?;
    let name = match request.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => Toxic::default_name(kind.toxic_type(), stream),
    };
    let toxicity = toxicity_of(&request)?.unwrap_or(1.0);
    let toxic = Toxic { name, stream, toxicity, kind };
    Ok(Json(json!(proxies.add_toxic(&proxy, toxic).await?)))
}

fn kind_of(request: &Value) -> ApiResult<Kind> {
    let type_name = request.get("type").and_then(Value::as_str).unwrap_or_default();
    let attributes = request.get("attributes").cloned().unwrap_or_else(|| json!({}));
    serde_json::from_value(json!({"type": type_name, "attributes": attributes})).map_err(|e| {
        bad_request(format!("toxic type or attributes invalid ({e}); types: {}", ToxicType::NAMES.join(", ")))
    })
}

fn toxicity_of(request: &Value) -> ApiResult<Option<f32>> {
    match request.get("toxicity") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_f64().map(|t| Some(t as f32)).ok_or_else(|| bad_request("toxicity must be a number")),
    }
}

async fn show_toxic(
    State(proxies): State<Proxies>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(proxies.toxic(&proxy, &toxic).await?)))
}

/// Only `attributes` (merged into the current ones) and `toxicity` are read, as in Toxiproxy.
async fn update_toxic(
    State(proxies): State<Proxies>,
    Path((proxy, toxic)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let request: Value = body(&bytes)?;
    let toxicity = toxicity_of(&request)?;
    let updated = proxies
        .update_toxic(&proxy, &toxic, |current| {
            let mut merged = serde_json::to_value(&current.kind).unwrap_or_else(|_| json!({}));
            if let (Some(Value::Object(into)), Some(Value::Object(new))) =
                (merged.get_mut("attributes"), request.get("attributes"))
            {
                into.extend(new.clone());
            }
            let kind =
                serde_json::from_value(merged).map_err(|e| ProxyError::Invalid(format!("attributes invalid: {e}")))?;
            Ok(Toxic { kind, toxicity: toxicity.unwrap_or(current.toxicity), ..current.clone() })
        })
        .await?;
    Ok(Json(json!(updated)))
}

async fn remove_toxic(
    State(proxies): State<Proxies>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    proxies.remove_toxic(&proxy, &toxic).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Serves the API on `listen` until Ctrl-C, after creating the proxies in `config` (a JSON array
/// of `{name, listen, upstream, enabled}`, as for `/populate`).
pub async fn serve(listen: std::net::SocketAddr, config: Option<&std::path::Path>) -> anyhow::Result<()> {
    let proxies = Proxies::default();
    if let Some(path) = config {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let new: Vec<NewProxy> = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        proxies.populate(new).await.map_err(|(error, _)| anyhow::anyhow!("{}: {error}", path.display()))?;
    }
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot bind {listen}: {e}"))?;
    eprintln!("Toxiproxy-compatible API on http://{}", listener.local_addr()?);
    for (name, proxy) in proxies.list().await {
        eprintln!("  proxy {name}: {} -> {}", proxy.listen, proxy.upstream);
    }
    axum::serve(listener, router(proxies))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
