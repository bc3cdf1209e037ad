//! After a run, the coordinator can keep serving its report directory for a while
//! (`harness coordinate --serve-report-for 10m`), behind the same token as the rest of its
//! endpoint, so a report written inside a Kubernetes Job can be fetched with
//! `kubectl port-forward job/gauntlet-coordinator 7070` and a bearer token, also where no
//! volume outlives the pod: `GET /reports/index.html`, `GET /reports/<run>/report.json`.

use std::path::{Component, Path, PathBuf};

use axum::extract::{Path as UrlPath, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;

/// The file at `path` under the published report directory; 404 before one is published, for
/// a path that leaves it, or for a file that is not there.
pub(super) async fn file(AxumState((state, _)): AxumState<Shared>, UrlPath(path): UrlPath<String>) -> Response {
    let root = state.lock().expect("coordinator state").reports.clone();
    let Some(file) = root.and_then(|root| inside(&root, &path)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&file))], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `root/path` when `path` stays inside `root` (no `..`, no absolute path).
fn inside(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    relative.components().all(|c| matches!(c, Component::Normal(_))).then(|| root.join(relative))
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_inside_the_report_directory_are_served() {
        let root = Path::new("/reports");
        assert_eq!(inside(root, "run/report.json"), Some(PathBuf::from("/reports/run/report.json")));
        for escape in ["../etc/passwd", "/etc/passwd", "run/../../x", ""] {
            assert_eq!(inside(root, escape).filter(|_| !escape.is_empty()), None, "{escape}");
        }
    }
}
