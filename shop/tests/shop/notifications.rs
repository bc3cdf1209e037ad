//! `order.created` → one notification per order, through restarts and redeliveries.

use std::time::Duration;

use serde_json::Value;
use shop::events::{Handler, OrderCreated};
use shop::role::Role;

use crate::support::{Shop, spawn_shop};

/// Polls the stats until `notifications` reaches `count` (or 10 s pass).
async fn wait_for(shop: &Shop, count: i64) -> Value {
    let mut stats = Value::Null;
    for _ in 0..100 {
        stats = shop.get("/notifications/stats", Some(&shop.admin)).await.1;
        if stats["notifications"].as_i64() >= Some(count) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stats
}

#[tokio::test]
async fn each_order_gets_one_notification_its_user_can_read() {
    let shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 10).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, order) = shop.order(&token, &product, 1).await;
        assert_eq!(status, 201, "{order}");
        ids.push(order["id"].as_str().unwrap().to_owned());
    }
    let stats = wait_for(&shop, 3).await;
    assert_eq!(
        (stats["notifications"].as_i64(), stats["orders"].as_i64(), stats["duplicates"].as_i64()),
        (Some(3), Some(3), Some(0)),
        "{stats}"
    );
    let (status, mine) = shop.get(&format!("/notifications/?order_id={}", ids[0]), Some(&token)).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["order_id"], ids[0].as_str());
    let (_, other) = shop.register("bob@example.com").await;
    let (_, theirs) = shop.get(&format!("/notifications/?order_id={}", ids[0]), Some(&other)).await;
    assert_eq!(theirs.as_array().unwrap().len(), 0, "another user's notifications are not shown: {theirs}");
}

#[tokio::test]
async fn orders_placed_while_notifications_is_down_are_notified_once_it_returns() {
    let mut shop = spawn_shop().await;
    let (_, token) = shop.register("ann@example.com").await;
    let product = shop.product(1.0, 10).await;
    shop.stop(Role::Notifications).await;
    for _ in 0..4 {
        assert_eq!(shop.order(&token, &product, 1).await.0, 201);
    }
    let mut settings = shop.settings.clone();
    settings.ports.insert(Role::Notifications, 0);
    let service = shop::server::build(Role::Notifications, settings).await.unwrap();
    let url = format!("http://127.0.0.1:{}", service.port);
    tokio::spawn(service.run(std::future::pending()));
    // The gateway still points at the old port: read the new instance directly.
    let mut stats = Value::Null;
    for _ in 0..100 {
        let response =
            shop.call(reqwest::Method::GET, &format!("{url}/notifications/stats"), Some(&shop.admin), None).await;
        stats = response.json().await.unwrap();
        if stats["notifications"] == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((stats["notifications"].as_i64(), stats["duplicates"].as_i64()), (Some(4), Some(0)), "{stats}");
}

#[tokio::test]
async fn a_redelivered_event_is_recorded_once() {
    let shop = spawn_shop().await;
    let secrets = shop::server::vault(&shop.settings).unwrap();
    let store = shop::store::Store::connect(&shop.settings, &secrets, Role::Notifications).await.unwrap();
    let recorder = shop::services::notifications::Recorder(store);
    let event = OrderCreated {
        message_id: uuid::Uuid::new_v4(),
        order_id: uuid::Uuid::new_v4(),
        user_id: uuid::Uuid::new_v4(),
        total_cents: 100,
    };
    recorder.handle(event.clone()).await.unwrap();
    recorder.handle(event).await.unwrap();
    let stats = wait_for(&shop, 1).await;
    assert_eq!((stats["notifications"].as_i64(), stats["duplicates"].as_i64()), (Some(1), Some(0)), "{stats}");
}
