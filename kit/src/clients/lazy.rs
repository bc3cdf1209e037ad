//! [`Lazy`]: a connection made on first use (credentials come from Vault, which may be down at
//! start-up) and dropped on failure so the next call reconnects with fresh credentials.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::RwLock;

use crate::error::ApiResult;

/// A shared, lazily made, resettable handle such as a pool or a connection.
pub struct Lazy<T>(Arc<RwLock<Option<T>>>);

impl<T> Clone for Lazy<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for Lazy<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T: Clone> Lazy<T> {
    /// The handle, making it with `connect` if there is none; only one caller connects at a time.
    pub async fn get_or_connect<F, Fut>(&self, connect: F) -> ApiResult<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<T>>,
    {
        if let Some(handle) = self.0.read().await.as_ref() {
            return Ok(handle.clone());
        }
        let mut slot = self.0.write().await;
        if let Some(handle) = slot.as_ref() {
            return Ok(handle.clone());
        }
        let handle = connect().await?;
        *slot = Some(handle.clone());
        Ok(handle)
    }

    /// Forgets the handle; the next call connects again.
    pub async fn reset(&self) {
        self.0.write().await.take();
    }
}
