//! `/examples/messaging/*`.

use serde_json::json;

use crate::support::{assert_error_body, dead_port, json_of, spawn_app, spawn_app_with};

fn queue_name() -> String {
    format!("gauntlet.test.{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn published_message_lands_in_a_durable_queue() {
    let app = spawn_app().await;
    let queue = queue_name();
    let (status, body) = app.get_json(&format!("/examples/messaging/queue/{queue}/info")).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "queue": queue, "exists": false, "message_count": null, "consumer_count": null }));
    for n in 0..3 {
        let message = json!({ "type": "email", "n": n });
        let (status, body) =
            json_of(app.post_json(&format!("/examples/messaging/publish?queue_name={queue}"), &message).await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({ "queue": queue, "message": message, "action": "published" }));
    }
    let (_, body) = app.get_json(&format!("/examples/messaging/queue/{queue}/info")).await;
    assert_eq!(body["exists"], true);
    assert_eq!(body["message_count"], 3);
    assert_eq!(body["consumer_count"], 0);
}

#[tokio::test]
async fn a_queue_deleted_between_publishes_is_declared_again() {
    let app = spawn_app().await;
    let queue = queue_name();
    let (path, message) = (format!("/examples/messaging/publish?queue_name={queue}"), json!({ "n": 1 }));
    let publish = || app.post_json(&path, &message);
    assert_eq!(publish().await.status(), 200);
    // Deleted behind the app's back: the channel it keeps for the queue declared it only once.
    let uri = kit::clients::rabbit::amqp_uri(&app.state.settings.rabbitmq, &app.state.secrets).await.unwrap();
    let connection = lapin::Connection::connect(&uri, Default::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel.queue_delete(queue.as_str().into(), Default::default()).await.unwrap();
    let (status, body) = json_of(publish().await).await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = app.get_json(&format!("/examples/messaging/queue/{queue}/info")).await;
    assert_eq!(body["exists"], true, "{body}");
    assert_eq!(body["message_count"], 1, "the second message was returned unroutable and lost: {body}");
    channel.queue_delete(queue.as_str().into(), Default::default()).await.unwrap();
}

#[tokio::test]
async fn bad_messages_and_queue_names_are_rejected() {
    let app = spawn_app().await;
    let url = |query: &str| format!("/examples/messaging/publish{query}");
    for (query, body) in [
        ("?queue_name=q", json!({})),
        ("?queue_name=q", json!([1, 2])),
        ("?queue_name=q", json!("text")),
        ("", json!({ "a": 1 })),
        ("?queue_name=bad/name", json!({ "a": 1 })),
    ] {
        let (status, response) = json_of(app.post_json(&url(query), &body).await).await;
        assert_error_body(status, &response, 422, "ValidationError");
    }
    let long_queue = "q".repeat(101);
    let (status, body) = app.get_json(&format!("/examples/messaging/queue/{long_queue}/info")).await;
    assert_error_body(status, &body, 422, "ValidationError");
}

#[tokio::test]
async fn message_over_one_megabyte_is_413() {
    let app = spawn_app().await;
    let big = json!({ "blob": "x".repeat(1024 * 1024) });
    let (status, body) =
        json_of(app.post_json(&format!("/examples/messaging/publish?queue_name={}", queue_name()), &big).await).await;
    assert_error_body(status, &body, 413, "ValidationError");
}

#[tokio::test]
async fn rabbitmq_outage_is_a_503_message_queue_error() {
    let app = spawn_app_with(|s| s.rabbitmq.port = dead_port()).await;
    let (status, body) =
        json_of(app.post_json("/examples/messaging/publish?queue_name=q", &json!({ "a": 1 })).await).await;
    assert_error_body(status, &body, 503, "MessageQueueError");
}

#[tokio::test]
async fn thousands_of_lookups_of_a_missing_queue_do_not_exhaust_channels() {
    let app = spawn_app().await;
    let path = format!("/examples/messaging/queue/{}/info", queue_name());
    // More lookups than AMQP's default channel_max (2047); each closes its channel with a 404.
    for batch in 0..70 {
        let statuses = futures::future::join_all((0..30).map(|_| app.get(&path))).await;
        assert!(
            statuses.iter().all(|r| r.status() == 200),
            "batch {batch}: {:?}",
            statuses.iter().map(|r| r.status()).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_body_over_1_mb_is_refused_before_it_is_buffered() {
    let app = crate::support::spawn_app().await;
    let body = axum::body::Bytes::from(vec![b' '; 5 * 1024 * 1024]);
    let before = crate::support::rss_mb();
    let calls = (0..10).map(|_| {
        app.client
            .post(format!("{}/examples/messaging/publish?queue_name=gauntlet.big", app.address))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    });
    let answers = futures::future::join_all(calls).await;
    let grown = crate::support::rss_mb().saturating_sub(before);
    for answer in answers {
        let (status, json) = crate::support::json_of(answer.unwrap()).await;
        crate::support::assert_error_body(status, &json, 413, "ValidationError");
    }
    assert!(grown < 30, "10 concurrent 5 MB bodies grew RSS by {grown} MiB (buffered whole, it would be 50+)");
}
