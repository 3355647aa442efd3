//! A restart keeps every deadline: stop the server with a pending cancellation request,
//! start it again on the same database, advance the clock, and the request auto-approves
//! exactly once.

use orderly_app::Clock;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_pending_request_survives_a_restart_and_auto_approves_exactly_once() {
    for database in orderly_testkit::databases().await {
        // Arrange: a pending request, then a graceful stop.
        let app = TestApp::start(&database.url, start_time()).await;
        let market = Market::open(app).await;
        let id = market.verified().await;
        market
            .ok(
                &market.buyer,
                &id,
                "cancel",
                json!({"reason": "no_longer_needed"}),
            )
            .await;
        let Market { app, buyer, .. } = market;
        app.stop().await;

        // Act: a new process on the same database, 72 hours later.
        let restarted = TestApp::start(&database.url, start_time()).await;
        restarted.advance(72 * 3_600).await;
        restarted.advance(24 * 3_600).await;

        // Assert
        let order = restarted.get(&buyer, &format!("/api/v1/orders/{id}")).await;
        assert_eq!(
            order.body["cancellation_request"]["status"], "auto_approved",
            "{}",
            database.backend
        );
        let history = restarted
            .get(&buyer, &format!("/api/v1/orders/{id}/events"))
            .await;
        let approvals = history.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|event| event["type"] == "cancellation_approved")
            .count();
        assert_eq!(approvals, 1, "{}: approved exactly once", database.backend);
        assert_eq!(order.body["refunds"].as_array().expect("refunds").len(), 1);
        restarted.stop().await;
        database.drop_database().await;
    }
}

#[tokio::test]
async fn the_worker_catches_up_after_downtime_without_firing_early() {
    // The real-clock worker path: a clock that jumps as if the service had been down.
    let database = orderly_testkit::TestDb::sqlite();
    let store = orderly_store::connect(&database.url, &Default::default())
        .await
        .expect("open");
    let clock = std::sync::Arc::new(orderly_app::TestClock::new(start_time()));
    let app = orderly_app::App::new(
        store,
        orderly_domain::Policy::default(),
        clock.clone(),
        Default::default(),
    );
    let (buyer, product) = shop(&app).await;
    let new_order = || order_of(product);
    let early = app
        .place_order(buyer.id, new_order(), None)
        .await
        .expect("placed");
    clock.set(start_time() + jiff::SignedDuration::from_hours(24 * 5));
    let late = app
        .place_order(buyer.id, new_order(), None)
        .await
        .expect("placed");
    // The service "was down" for 21 days after the first order: its 20-day window passed.
    clock.set(start_time() + jiff::SignedDuration::from_hours(24 * 21));
    let fired = app.run_due_deadlines(clock.now()).await.expect("catch up");
    assert_eq!(fired, 1, "only the due deadline fires");
    assert_eq!(
        app.run_due_deadlines(clock.now()).await.expect("again"),
        0,
        "and only once"
    );
    let actor = orderly_domain::Actor::Buyer(buyer.id);
    assert_eq!(
        app.order_for(actor, early.order.id)
            .await
            .expect("order")
            .status,
        orderly_domain::Status::Closed
    );
    assert_eq!(
        app.order_for(actor, late.order.id)
            .await
            .expect("order")
            .status,
        orderly_domain::Status::AwaitingPayment
    );
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_database_fire_each_deadline_once() {
    for database in orderly_testkit::databases().await {
        // Two apps ("processes") on one database, with clocks at the same time.
        let open = || async {
            let store = orderly_store::connect(&database.url, &Default::default())
                .await
                .expect("open");
            let clock = std::sync::Arc::new(orderly_app::TestClock::new(start_time()));
            (
                orderly_app::App::new(
                    store,
                    orderly_domain::Policy::default(),
                    clock.clone(),
                    Default::default(),
                ),
                clock,
            )
        };
        let (first, first_clock) = open().await;
        let (second, second_clock) = open().await;
        let (buyer, product) = shop(&first).await;
        let orders = 30;
        let mut ids = Vec::new();
        for _ in 0..orders {
            let placed = first
                .place_order(buyer.id, order_of(product), None)
                .await
                .expect("placed");
            let actor = orderly_domain::Actor::Buyer(buyer.id);
            first
                .command(
                    actor,
                    placed.order.id,
                    orderly_domain::Command::Pay { method: None },
                    None,
                )
                .await
                .expect("paid");
            ids.push(placed.order.id);
        }
        // Three hours later both run their deadline workers at once.
        let later = start_time() + jiff::SignedDuration::from_hours(3);
        first_clock.set(later);
        second_clock.set(later);
        let (a, b) = tokio::join!(
            first.run_due_deadlines(later),
            second.run_due_deadlines(later)
        );
        let fired = a.expect("first worker") + b.expect("second worker");
        assert_eq!(
            fired, orders,
            "{}: every verification fired once across both",
            database.backend
        );
        let actor = orderly_domain::Actor::Buyer(buyer.id);
        for id in ids {
            let events = first.events_for(actor, id).await.expect("events");
            let verified = events
                .iter()
                .filter(|stored| {
                    matches!(
                        stored.event.kind,
                        orderly_domain::EventKind::PaymentVerified
                    )
                })
                .count();
            assert_eq!(verified, 1, "{}: order {id}", database.backend);
        }
        drop((first, second));
        database.drop_database().await;
    }
}

/// A seller with a product (stock 1000, 3 days' processing) and a buyer, made through the
/// app; returns the buyer and the product.
async fn shop(app: &orderly_app::App) -> (orderly_store::Account, orderly_domain::ProductId) {
    let (seller, _) = app
        .create_account(orderly_domain::Role::Seller, "S", None, |_| None)
        .await
        .expect("seller");
    let (buyer, _) = app
        .create_account(orderly_domain::Role::Buyer, "B", None, |_| None)
        .await
        .expect("buyer");
    let eur = orderly_domain::Currency::parse("EUR").expect("EUR");
    let product = app
        .create_product(
            seller.id,
            orderly_app::NewProduct {
                title: "x".into(),
                price: orderly_domain::Money::parse(100, eur).expect("valid"),
                shipping_fee: orderly_domain::Money::parse(0, eur).expect("valid"),
                stock: 1_000,
                processing_days: 3,
            },
            |_| None,
        )
        .await
        .expect("product");
    (buyer, product.id)
}

/// One unit of `product`, paid by card.
fn order_of(product: orderly_domain::ProductId) -> orderly_app::NewOrder {
    orderly_app::NewOrder {
        lines: vec![(product, 1)],
        shipping_address: orderly_domain::ShippingAddress::parse([(
            "city".to_owned(),
            "C".to_owned(),
        )])
        .expect("valid"),
        payment_method: orderly_domain::PaymentMethod::Card,
    }
}
