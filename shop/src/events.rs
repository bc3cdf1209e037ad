//! `order.created`: the [`OrderCreated`] event orders publishes (through target-app's
//! [`EventPublisher`](kit::clients::rabbit::EventPublisher): durable queue, persistent
//! message, publisher confirm) and the [`Consumer`] the notifications service runs: manual
//! acknowledgement after the row is stored, bounded prefetch, reconnect with backoff. The
//! message carries the publisher's `traceparent`, so handling it joins the order's trace.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kit::clients::rabbit::amqp_uri;
use kit::clients::vault::SecretSource;
use kit::config::RabbitSettings;
use kit::trace;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use uuid::Uuid;

/// The event, one per stored order. `message_id` is what the consumer deduplicates on: a
/// redelivery carries the same one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderCreated {
    /// Unique per event.
    pub message_id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
    /// Its total, in cents.
    pub total_cents: i64,
}

/// What the consumer does with one event; `Err` leaves it on the queue for another try.
pub trait Handler: Send + Sync + 'static {
    /// Stores the effect of `event` (idempotently).
    fn handle(&self, event: OrderCreated) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The notifications service's consumer of `order.created`; [`Consumer::connected`] feeds its
/// health.
#[derive(Clone)]
pub struct Consumer {
    connected: Arc<AtomicBool>,
}

/// Longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Consumer {
    /// Starts consuming `queue` in the background, holding at most `prefetch` unacknowledged
    /// deliveries; runs until the process ends, reconnecting after any failure.
    pub fn start(
        settings: RabbitSettings,
        secrets: SecretSource,
        queue: String,
        prefetch: u16,
        handler: impl Handler,
    ) -> Self {
        let consumer = Self { connected: Arc::default() };
        let connected = consumer.connected.clone();
        let handler = Arc::new(handler);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let result = consume(&settings, &secrets, &queue, prefetch, handler.as_ref(), &connected).await;
                connected.store(false, Ordering::Relaxed);
                if let Err(error) = result {
                    tracing::warn!(%error, queue, "order.created consumer stopped; reconnecting");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
        consumer
    }

    /// Whether the consumer is attached to the queue now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

async fn consume(
    settings: &RabbitSettings,
    secrets: &SecretSource,
    queue: &str,
    prefetch: u16,
    handler: &impl Handler,
    connected: &AtomicBool,
) -> anyhow::Result<()> {
    let uri = amqp_uri(settings, secrets).await.map_err(|e| anyhow::anyhow!("RabbitMQ credentials: {e}"))?;
    let connection = Connection::connect(&uri, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let durable = QueueDeclareOptions { durable: true, ..Default::default() };
    channel.queue_declare(queue.into(), durable, FieldTable::default()).await?;
    let mut deliveries =
        channel.basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default()).await?;
    connected.store(true, Ordering::Relaxed);
    tracing::info!(queue, prefetch, "consuming order.created");
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        let Ok(event) = serde_json::from_slice::<OrderCreated>(&delivery.data) else {
            // A message that can never be handled is dropped, not redelivered forever.
            tracing::error!(queue, bytes = delivery.data.len(), "dropping an order.created that is not one");
            delivery.acker.reject(BasicRejectOptions { requeue: false }).await?;
            continue;
        };
        let order_id = event.order_id;
        let span = trace::consumer_span(queue, delivery.properties.headers().as_ref());
        match handler.handle(event).instrument(span.clone()).await {
            Ok(()) => _ = delivery.acker.ack(BasicAckOptions::default()).await?,
            Err(error) => {
                trace::fail(&span, &error.to_string());
                tracing::warn!(%error, %order_id, "order.created not handled; requeued");
                delivery.acker.nack(BasicNackOptions { requeue: true, multiple: false }).await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    anyhow::bail!("the broker ended the consumer")
}
