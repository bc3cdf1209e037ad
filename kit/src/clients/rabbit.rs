//! [`EventPublisher`]: one long-lived AMQP connection (credentials and vhost from Vault);
//! durable queues, persistent messages, publisher confirms so an accepted message is not lost.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::clients::dependency::Dependency;
use crate::clients::lazy::Lazy;
use crate::clients::vault::{SecretSource, text_field};
use crate::config::RabbitSettings;
use crate::error::{ApiError, ApiResult};

/// The RabbitMQ broker, shared as `Arc<EventPublisher>`.
pub struct EventPublisher {
    settings: RabbitSettings,
    secrets: SecretSource,
    dependency: Dependency,
    connection: Lazy<Arc<Connection>>,
    /// Channels opened on the current connection; see [`RECYCLE_AFTER_CHANNELS`].
    channels_opened: AtomicU32,
}

/// lapin 4.12 runs out of channel ids after `channel_max` (2047) channels on one connection
/// even when the broker closed them (a passive declare of a missing queue does), so the
/// connection is replaced before that; the old one closes once in-flight calls are done.
const RECYCLE_AFTER_CHANNELS: u32 = 1000;

/// What `queue_info` reports.
#[derive(Debug, serde::Serialize)]
pub struct QueueStats {
    /// Whether the queue exists.
    pub exists: bool,
    /// Ready messages, when it exists.
    pub message_count: Option<u32>,
    /// Consumers, when it exists.
    pub consumer_count: Option<u32>,
}

impl EventPublisher {
    /// Prepares the publisher; nothing connects until the first call.
    pub fn connect(settings: &RabbitSettings, secrets: SecretSource, dependency: Dependency) -> Self {
        Self {
            settings: settings.clone(),
            secrets,
            dependency,
            connection: Lazy::default(),
            channels_opened: AtomicU32::new(0),
        }
    }

    /// Declares `queue` durable and publishes `message` persistently, waiting for the broker's ack.
    #[tracing::instrument(skip_all, fields(queue))]
    pub async fn publish(&self, queue: &str, message: &Value) -> ApiResult<()> {
        let payload = serde_json::to_vec(message).map_err(|e| ApiError::Internal(e.into()))?;
        let payload = &payload;
        self.run("publish", |connection: Arc<Connection>| async move {
            let channel = connection.create_channel().await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            let durable = QueueDeclareOptions { durable: true, ..Default::default() };
            channel.queue_declare(queue.into(), durable, FieldTable::default()).await?;
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_headers(crate::trace::amqp_headers());
            let confirm = channel
                .basic_publish("".into(), queue.into(), BasicPublishOptions::default(), payload, properties)
                .await?
                .await?;
            let _ = channel.close(200, "done".into()).await;
            if confirm.is_nack() {
                return Ok(Err(ApiError::MessageQueue {
                    details: json!({ "queue": queue, "reason": "broker refused the message" }),
                }));
            }
            Ok(Ok(()))
        })
        .await?
    }

    /// Message and consumer counts, by a passive declare that never creates the queue.
    #[tracing::instrument(skip_all, fields(queue))]
    pub async fn queue_info(&self, queue: &str) -> ApiResult<QueueStats> {
        self.run("queue_info", |connection: Arc<Connection>| async move {
            let channel = connection.create_channel().await?;
            let passive = QueueDeclareOptions { passive: true, ..Default::default() };
            match channel.queue_declare(queue.into(), passive, FieldTable::default()).await {
                Ok(found) => {
                    let _ = channel.close(200, "done".into()).await;
                    Ok(QueueStats {
                        exists: true,
                        message_count: Some(found.message_count()),
                        consumer_count: Some(found.consumer_count()),
                    })
                }
                Err(error) if is_not_found(&error) => {
                    Ok(QueueStats { exists: false, message_count: None, consumer_count: None })
                }
                Err(error) => Err(error),
            }
        })
        .await
    }

    /// Health: whether the connection is up.
    pub async fn health(&self) -> ApiResult<Value> {
        self.run("health", |connection: Arc<Connection>| async move {
            Ok(json!({ "connected": connection.status().connected() }))
        })
        .await
    }

    async fn run<T, Fut>(&self, operation: &'static str, op: impl FnOnce(Arc<Connection>) -> Fut) -> ApiResult<T>
    where
        Fut: Future<Output = lapin::Result<T>>,
    {
        let connection = self.connection.get_or_connect(|| self.open()).await?;
        self.dependency
            .call(operation, async {
                let result = op(connection.clone()).await;
                if result.is_err() && !connection.status().connected() {
                    self.connection.reset().await;
                } else if self.channels_opened.fetch_add(1, Ordering::Relaxed) + 1 == RECYCLE_AFTER_CHANNELS {
                    self.recycle(connection).await;
                }
                result.map_err(|e| self.dependency.unavailable(operation, e.to_string()))
            })
            .await
    }

    /// Replaces the connection; the old one is closed after in-flight calls had time to finish.
    async fn recycle(&self, old: Arc<Connection>) {
        self.connection.reset().await;
        self.channels_opened.store(0, Ordering::Relaxed);
        tracing::info!(channels = RECYCLE_AFTER_CHANNELS, "recycling the RabbitMQ connection");
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            let _ = old.close(200, "recycled".into()).await;
        });
    }

    async fn open(&self) -> ApiResult<Arc<Connection>> {
        let uri = amqp_uri(&self.settings, &self.secrets).await?;
        self.dependency
            .call("connect", async {
                Connection::connect(&uri, ConnectionProperties::default())
                    .await
                    .map(Arc::new)
                    .map_err(|e| self.dependency.unavailable("connect", e.to_string()))
            })
            .await
    }
}

/// The broker's `amqp://` URI with the user, password and vhost Vault's `rabbitmq` secret holds.
/// It carries the password: never log it.
pub async fn amqp_uri(settings: &RabbitSettings, secrets: &SecretSource) -> ApiResult<String> {
    let secret = secrets.secret("rabbitmq").await?;
    let user = text_field(&secret, "user").unwrap_or_else(|| "guest".into());
    let password = text_field(&secret, "password").unwrap_or_default();
    let vhost = text_field(&secret, "vhost").unwrap_or_else(|| "dev_vhost".into());
    Ok(format!("amqp://{}:{}@{}:{}/{}", encode(&user), encode(&password), settings.host, settings.port, encode(&vhost)))
}

fn is_not_found(error: &lapin::Error) -> bool {
    matches!(error.kind(), lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == 404)
}

/// Percent-encodes a URI component (user, password, vhost).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
