//! Every failure path answers `application/problem+json` with a stable code and a sentence,
//! and changes nothing.

use serde_json::json;

use crate::support::*;

async fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.content_type, "application/problem+json", "{reply:?}");
    assert_eq!(reply.code(), code, "{reply:?}");
    let detail = reply.body["detail"].as_str().expect("a detail sentence");
    assert!(detail.ends_with('.') && detail.len() > 10, "{detail}");
    assert_eq!(reply.body["status"], status);
    assert!(reply.body["type"].as_str().expect("type").contains(code));
}

#[tokio::test]
async fn bad_requests_get_problem_documents_and_change_nothing() {
    let (market, database) = sqlite_market().await;
    let app = &market.app;
    let id = market.verified().await;
    let before = market.order(&market.buyer, &id).await;
    let path = format!("/api/v1/orders/{id}/cancel");

    // No token, a bad token.
    assert_problem(
        &app.request("GET", "/api/v1/orders", None, None, None).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        &app.request("GET", "/api/v1/orders", Some("nope"), None, None)
            .await,
        401,
        "unauthorized",
    )
    .await;

    // Malformed JSON.
    let client = reqwest::Client::new();
    let malformed = client
        .post(format!("{}{path}", app.url))
        .bearer_auth(&market.buyer)
        .header("content-type", "application/json")
        .body("{\"reason\": ")
        .send()
        .await
        .expect("answer");
    assert_eq!(malformed.status().as_u16(), 400);
    let body: serde_json::Value = malformed.json().await.expect("json");
    assert_eq!(body["code"], "malformed_json");
    // A body of characters JSON does not count as white space (a form feed, found by the
    // schema fuzzer) is not JSON either; an empty one, or JSON's own white space, reads as
    // `{}` and goes on to the order (which has no request to withdraw).
    for (bytes, malformed) in [
        ("\u{c}", true),
        (" \u{b}", true),
        ("", false),
        (" \t\r\n", false),
    ] {
        let reply = client
            .post(format!(
                "{}/api/v1/orders/{id}/cancellation/withdraw",
                app.url
            ))
            .bearer_auth(&market.buyer)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .expect("answer");
        let status = reply.status().as_u16();
        let body: serde_json::Value = reply.json().await.expect("json");
        assert_eq!(
            body["code"] == "malformed_json",
            malformed,
            "{bytes:?}: {status} {body}"
        );
    }

    // JSON that is not an object: serde alone would read `[]` as a body without fields.
    for body in [json!([]), json!(["no_longer_needed"]), json!("x"), json!(3)] {
        let refused = app
            .post(
                &market.buyer,
                &format!("/api/v1/orders/{id}/cancellation/withdraw"),
                body.clone(),
            )
            .await;
        assert_problem(&refused, 422, "validation_failed").await;
        assert_eq!(refused.body["field"], "body", "{body}: {refused:?}");
    }

    // Unknown fields (named once, at the top level and nested), wrong types, missing
    // fields, unknown reason codes.
    let extra = app
        .post(
            &market.buyer,
            &path,
            json!({"reason": "no_longer_needed", "extra": 1}),
        )
        .await;
    assert_problem(&extra, 422, "validation_failed").await;
    assert_eq!(extra.body["field"], "extra", "{extra:?}");
    assert_eq!(
        extra.body["detail"],
        "Extra: unknown field `extra`, expected one of `reason`, `message`, `complaint`."
    );
    let nested = app
        .post(
            &market.buyer,
            "/api/v1/orders",
            json!({"lines": [{"product_id": market.product, "quantity": 1, "colour": "red"}],
                   "shipping_address": {"name": "Ada", "city": "Berlin", "country": "DE"},
                   "payment_method": "card"}),
        )
        .await;
    assert_problem(&nested, 422, "validation_failed").await;
    assert_eq!(nested.body["field"], "lines[0].colour", "{nested:?}");
    assert_problem(
        &app.post(&market.buyer, &path, json!({"reason": 7})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        &app.post(&market.buyer, &path, json!({})).await,
        422,
        "validation_failed",
    )
    .await;
    let unknown = app
        .post(&market.buyer, &path, json!({"reason": "bored"}))
        .await;
    assert_problem(&unknown, 422, "validation_failed").await;
    assert_eq!(unknown.body["field"], "reason");
    assert!(
        unknown.body["detail"]
            .as_str()
            .expect("detail")
            .contains("no_longer_needed"),
        "the sentence lists the codes"
    );

    // Bad amounts.
    let delivered = market.delivered().await;
    for amount in [json!(-5), json!(0), json!(1.5), json!("10")] {
        let reply = app
            .post(&market.buyer, &format!("/api/v1/orders/{delivered}/returns"), json!({"kind": "refund_only", "reason": "damaged", "amount": amount, "explanation": "x"}))
            .await;
        assert_problem(&reply, 422, "validation_failed").await;
    }

    // Oversized bodies.
    let huge = "x".repeat(1024 * 1024 + 1);
    let oversized = app
        .post(
            &market.buyer,
            &path,
            json!({"reason": "no_longer_needed", "message": huge}),
        )
        .await;
    assert_problem(&oversized, 413, "payload_too_large").await;

    // Unknown routes and wrong methods.
    assert_problem(
        &app.get(&market.buyer, "/api/v1/nothing-here").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        &app.request(
            "DELETE",
            &format!("/api/v1/orders/{id}"),
            Some(&market.buyer),
            None,
            None,
        )
        .await,
        405,
        "method_not_allowed",
    )
    .await;
    // A malformed order id is an order nobody can see.
    assert_problem(
        &app.get(&market.buyer, "/api/v1/orders/not-a-uuid").await,
        404,
        "not_found",
    )
    .await;

    // Nothing changed.
    assert_eq!(market.order(&market.buyer, &id).await, before);
    close(market, database).await;
}

#[tokio::test]
async fn admin_only_and_role_only_endpoints_refuse_other_roles() {
    let (market, database) = sqlite_market().await;
    let app = &market.app;
    assert_problem(
        &app.post(
            &market.buyer,
            "/api/v1/accounts",
            json!({"role": "admin", "name": "me"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(&app.post(&market.buyer, "/api/v1/products", json!({"title": "x", "price": {"amount": 1, "currency": "EUR"}, "shipping_fee": {"amount": 0, "currency": "EUR"}, "stock": 1, "processing_days": 1})).await, 403, "forbidden").await;
    assert_problem(
        &app.post(&market.seller, "/api/v1/orders", market.order_body(1))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        &app.post(
            &market.seller,
            "/api/v1/test-clock/advance",
            json!({"seconds": 10}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        &app.post(
            ADMIN_TOKEN,
            "/api/v1/test-clock/advance",
            json!({"seconds": 0}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        &app.post(
            ADMIN_TOKEN,
            "/api/v1/accounts",
            json!({"role": "king", "name": "me"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let currency = app
        .post(&market.seller, "/api/v1/products", json!({"title": "x", "price": {"amount": 1, "currency": "EURO"}, "shipping_fee": {"amount": 0, "currency": "EUR"}, "stock": 1, "processing_days": 1}))
        .await;
    assert_problem(&currency, 422, "validation_failed").await;
    close(market, database).await;
}

#[tokio::test]
async fn health_readiness_metrics_and_docs_are_served() {
    let (market, database) = sqlite_market().await;
    let app = &market.app;
    let health = app.request("GET", "/healthz", None, None, None).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.request("GET", "/readyz", None, None, None).await;
    assert_eq!(ready.status, 200);
    market.placed().await;
    let metrics = app.request("GET", "/metrics", None, None, None).await;
    let text = metrics.body.as_str().expect("text").to_owned();
    for name in [
        "orderly_http_request_duration_seconds",
        "orderly_commands_total",
        "orderly_outbox_backlog",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    let docs = app.request("GET", "/api/docs/", None, None, None).await;
    assert_eq!(docs.status, 200);
    let request_id = app.request("GET", "/healthz", None, None, None).await;
    assert!(request_id.headers.contains_key("x-request-id"));
    close(market, database).await;
}

#[tokio::test]
async fn the_test_clock_route_does_not_exist_without_the_flag() {
    orderly_app::delivery::install_crypto_provider();
    let database = orderly_testkit::TestDb::sqlite();
    let store = orderly_store::connect(&database.url, &Default::default())
        .await
        .expect("open");
    let app = orderly_app::App::new(
        store,
        orderly_domain::Policy::default(),
        std::sync::Arc::new(orderly_app::SystemClock),
        orderly_app::AppConfig {
            admin_token: Some(ADMIN_TOKEN.into()),
            ..Default::default()
        },
    );
    let router = orderly_server::app(orderly_server::AppState::new(
        std::sync::Arc::new(app),
        Default::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move { axum_serve(listener, router).await });
    let reply = reqwest::Client::new()
        .post(format!("{url}/api/v1/test-clock/advance"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"seconds": 60}))
        .send()
        .await
        .expect("answer");
    assert_eq!(reply.status().as_u16(), 404);
    server.abort();
    database.drop_database().await;
}

async fn axum_serve(listener: tokio::net::TcpListener, router: axum::Router) {
    axum::serve(listener, router).await.expect("serve");
}

#[tokio::test]
async fn an_account_over_its_rate_limit_gets_429_with_retry_after() {
    let database = orderly_testkit::TestDb::sqlite();
    let app = TestApp::start_with_rate_limit(&database.url, start_time(), 5).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(app.get(ADMIN_TOKEN, "/api/v1/orders").await);
    }
    assert!(
        statuses[..5].iter().all(|reply| reply.status == 200),
        "{statuses:?}"
    );
    let limited = &statuses[6];
    assert_problem(limited, 429, "rate_limited").await;
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_revoked_token_stops_working_at_once() {
    let (market, database) = sqlite_market().await;
    let app = &market.app;
    let (id, token) = app.account("buyer", "Mallory").await;
    assert_eq!(app.get(&token, "/api/v1/orders").await.status, 200);
    let revoked = app
        .post(
            ADMIN_TOKEN,
            &format!("/api/v1/accounts/{id}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(
        (revoked.status, &revoked.body["revoked"]),
        (200, &json!(true)),
        "{revoked:?}"
    );
    assert_problem(
        &app.get(&token, "/api/v1/orders").await,
        401,
        "unauthorized",
    )
    .await;
    let unknown = app
        .post(
            ADMIN_TOKEN,
            "/api/v1/accounts/01900000-0000-7000-8000-000000000000/revoke",
            json!({}),
        )
        .await;
    assert_problem(&unknown, 404, "not_found").await;
    close(market, database).await;
}

#[tokio::test]
async fn the_shipping_address_is_the_marketplaces_shape_within_bounds() {
    let (market, database) = sqlite_market().await;
    let app = &market.app;
    let order = |address: serde_json::Value| json!({"lines": [{"product_id": market.product, "quantity": 1}], "shipping_address": address, "payment_method": "card"});
    let other_shape = app
        .post(
            &market.buyer,
            "/api/v1/orders",
            order(json!({"line1": "1 Main St", "zip": 10115, "country_code": "DE"})),
        )
        .await;
    assert_eq!(other_shape.status, 201, "{other_shape:?}");
    assert_eq!(
        other_shape.body["shipping_address"],
        json!({"line1": "1 Main St", "zip": "10115", "country_code": "DE"})
    );
    assert_problem(
        &app.post(&market.buyer, "/api/v1/orders", order(json!({})))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        &app.post(
            &market.buyer,
            "/api/v1/orders",
            order(json!({"street": {"nested": 1}})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        &app.post(&market.buyer, "/api/v1/orders", order(json!("Berlin")))
            .await,
        422,
        "validation_failed",
    )
    .await;
    close(market, database).await;
}
