//! `orderly callback` against the real server: an operator registers a carrier, ships an
//! order, and delivers it from the command line; the same command with a wrong secret is
//! refused and changes nothing.

use serde_json::{Value, json};

use crate::support::*;

async fn get(base: &str, token: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("json")
}

async fn ok(base: &str, token: &str, path: &str, key: &str, body: Value) -> Value {
    let (status, body) = post(
        &reqwest::Client::new(),
        &format!("{base}{path}"),
        token,
        key,
        &body,
    )
    .await
    .expect("the server answers");
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

/// Runs `orderly callback carrier …` and returns whether it succeeded and what it printed.
async fn send_scan(base: &str, integration: &str, secret: &str, status: &str) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderly"))
        .args([
            "callback",
            "carrier",
            "--url",
            base,
            "--integration",
            integration,
        ])
        .args([
            "--tracking",
            "JD014600",
            "--status",
            status,
            "--location",
            "Berlin",
        ])
        .env("ORDERLY_INTEGRATION_SECRET", secret)
        .output()
        .await
        .expect("the binary runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[tokio::test]
async fn the_callback_command_delivers_a_shipped_order() {
    orderly_app::delivery::install_crypto_provider();
    let database = orderly_testkit::TestDb::sqlite();
    let (_server, base) = start(&database.url).await;
    // Arrange: a shipped order and a registered carrier.
    let (buyer, order_body, seller) = setup(&base).await;
    let order = ok(&base, &buyer, "/api/v1/orders", "place", order_body).await;
    let id = order["id"].as_str().expect("id").to_owned();
    ok(
        &base,
        &buyer,
        &format!("/api/v1/orders/{id}/pay"),
        "pay",
        json!({}),
    )
    .await;
    ok(
        &base,
        ADMIN_TOKEN,
        &format!("/api/v1/orders/{id}/verify-payment"),
        "verify",
        json!({"outcome": "approved"}),
    )
    .await;
    ok(
        &base,
        &seller,
        &format!("/api/v1/orders/{id}/ship"),
        "ship",
        json!({"carrier": "DHL", "tracking_number": "JD014600"}),
    )
    .await;
    let carrier = ok(
        &base,
        ADMIN_TOKEN,
        "/api/v1/integrations",
        "carrier",
        json!({"kind": "carrier", "name": "DHL"}),
    )
    .await;
    let integration = carrier["id"].as_str().expect("id");
    let secret = carrier["secret"].as_str().expect("secret");
    // A wrong secret: refused, and the order is still shipped.
    let (sent, printed) = send_scan(&base, integration, "int_wrong", "delivered").await;
    assert!(!sent, "a wrong secret must fail: {printed}");
    assert!(printed.contains("401"), "{printed}");
    assert_eq!(
        get(&base, &buyer, &format!("/api/v1/orders/{id}")).await["status"],
        "shipped"
    );
    // Act
    let (sent, printed) = send_scan(&base, integration, secret, "delivered").await;
    // Assert
    assert!(sent, "{printed}");
    assert!(
        printed.contains("moved the order to delivered"),
        "{printed}"
    );
    let order = get(&base, &buyer, &format!("/api/v1/orders/{id}")).await;
    assert_eq!(order["status"], "delivered");
    assert_eq!(order["tracking"][0]["location"], "Berlin");
    database.drop_database().await;
}
