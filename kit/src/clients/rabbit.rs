//! [`EventPublisher`]: one long-lived AMQP connection (credentials and vhost from Vault);
//! durable queues, persistent messages, publisher confirms so an accepted message is not lost.
//! Publishing reuses idle confirm-mode channels, each with its queue declared, so a publish is
//! one round trip to the broker rather than five.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

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
    /// Publishing channels not in use, at most [`IDLE_CHANNELS`].
    idle: Mutex<Vec<IdleChannel>>,
}

/// A confirm-mode channel with its queue declared, waiting for the next publish to that queue.
struct IdleChannel {
    channel: Channel,
    queue: String,
    /// The connection it belongs to: a channel of a replaced connection is never reused.
    connection: Weak<Connection>,
}

/// Most idle publishing channels kept (one per concurrent publish is enough).
const IDLE_CHANNELS: usize = 32;

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
            idle: Mutex::default(),
        }
    }

    /// Declares `queue` durable and publishes `message` persistently, waiting for the broker's ack.
    /// The publish is mandatory: if the queue was deleted since its channel declared it, the
    /// broker returns the message and it is published once more on a channel that declares it.
    #[tracing::instrument(skip_all, fields(queue))]
    pub async fn publish(&self, queue: &str, message: &Value) -> ApiResult<()> {
        let payload = serde_json::to_vec(message).map_err(|e| ApiError::Internal(e.into()))?;
        let payload = &payload;
        self.run("publish", |connection: Arc<Connection>| async move {
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_headers(crate::trace::amqp_headers());
            let mandatory = BasicPublishOptions { mandatory: true, ..Default::default() };
            for _ in 0..2 {
                let channel = self.publishing_channel(&connection, queue).await?;
                let confirm = channel
                    .basic_publish("".into(), queue.into(), mandatory, payload, properties.clone())
                    .await?
                    .await?;
                let unroutable = match confirm {
                    Confirmation::Ack(None) => {
                        self.put_back(&connection, queue, channel);
                        return Ok(Ok(()));
                    }
                    Confirmation::Ack(Some(_)) => true,
                    Confirmation::Nack(_) | Confirmation::NotRequested => false,
                };
                let _ = channel.close(200, "done".into()).await;
                if !unroutable {
                    return Ok(Err(refused(queue, "broker refused the message")));
                }
            }
            Ok(Err(refused(queue, "the queue is gone")))
        })
        .await?
    }

    /// An idle channel of `connection` that declared `queue`, or a new one.
    async fn publishing_channel(&self, connection: &Arc<Connection>, queue: &str) -> lapin::Result<Channel> {
        let reusable = {
            let mut idle = self.idle.lock().expect("idle channels");
            idle.retain(|held| {
                Weak::as_ptr(&held.connection) == Arc::as_ptr(connection) && held.channel.status().connected()
            });
            idle.iter().rposition(|held| held.queue == queue).map(|at| idle.swap_remove(at).channel)
        };
        if let Some(channel) = reusable {
            return Ok(channel);
        }
        let channel = self.open_channel(connection).await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        channel.queue_declare(queue.into(), durable, FieldTable::default()).await?;
        Ok(channel)
    }

    /// Keeps `channel` for the next publish to `queue`, or closes it when enough are idle.
    fn put_back(&self, connection: &Arc<Connection>, queue: &str, channel: Channel) {
        let mut idle = self.idle.lock().expect("idle channels");
        if idle.len() < IDLE_CHANNELS {
            idle.push(IdleChannel { channel, queue: queue.to_owned(), connection: Arc::downgrade(connection) });
        } else {
            drop(idle);
            tokio::spawn(async move { channel.close(200, "done".into()).await });
        }
    }

    /// Opens a channel, counted towards [`RECYCLE_AFTER_CHANNELS`].
    async fn open_channel(&self, connection: &Connection) -> lapin::Result<Channel> {
        self.channels_opened.fetch_add(1, Ordering::Relaxed);
        connection.create_channel().await
    }

    /// Message and consumer counts, by a passive declare that never creates the queue.
    #[tracing::instrument(skip_all, fields(queue))]
    pub async fn queue_info(&self, queue: &str) -> ApiResult<QueueStats> {
        self.run("queue_info", |connection: Arc<Connection>| async move {
            let channel = self.open_channel(&connection).await?;
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
                } else if self.channels_opened.load(Ordering::Relaxed) >= RECYCLE_AFTER_CHANNELS
                    // Only the call that takes the count back to 0 recycles.
                    && self.channels_opened.swap(0, Ordering::Relaxed) >= RECYCLE_AFTER_CHANNELS
                {
                    self.recycle(connection).await;
                }
                result.map_err(|e| self.dependency.unavailable(operation, e.to_string()))
            })
            .await
    }

    /// Replaces the connection; the old one is closed after in-flight calls had time to finish.
    async fn recycle(&self, old: Arc<Connection>) {
        self.connection.reset().await;
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

fn refused(queue: &str, reason: &str) -> ApiError {
    ApiError::MessageQueue { details: json!({ "queue": queue, "reason": reason }) }
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
