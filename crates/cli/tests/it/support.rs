//! What the binary's tests share: starting the real server and setting up a market.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN_TOKEN: &str = "kill-test-admin-token-0123456789abcdef";

/// The server binary, started on `db` with a free port; returns it and its base URL.
pub async fn start(db: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orderly"))
        .args([
            "serve",
            "--db",
            db,
            "--listen",
            "127.0.0.1:0",
            "--test-clock",
        ])
        .env("ORDERLY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ORDERLY__LOG__FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the server says where it listens")
        .expect("read")
        .expect("a line");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .expect("a URL on the first line")
        .to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// A POST with a bearer token and an Idempotency-Key; `None` when the server is gone.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> Option<(u16, Value)> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body = response.json().await.ok()?;
    Some((status, body))
}

/// A seller with a product and a buyer: the buyer's token and an order body for it, and
/// the seller's token.
pub async fn setup(base: &str) -> (String, Value, String) {
    let client = reqwest::Client::new();
    let account = |role: &'static str| {
        let client = client.clone();
        async move {
            let (status, body) = post(
                &client,
                &format!("{base}/api/v1/accounts"),
                ADMIN_TOKEN,
                &format!("setup-{role}"),
                &json!({"role": role, "name": role}),
            )
            .await
            .expect("the server answers");
            assert_eq!(status, 201, "{body}");
            body["token"].as_str().expect("token").to_owned()
        }
    };
    let seller = account("seller").await;
    let buyer = account("buyer").await;
    let (status, product) = post(
        &client,
        &format!("{base}/api/v1/products"),
        &seller,
        "setup-product",
        &json!({"title": "Lamp", "price": {"amount": 1000, "currency": "EUR"}, "shipping_fee": {"amount": 100, "currency": "EUR"}, "stock": 1_000_000, "processing_days": 3}),
    )
    .await
    .expect("the server answers");
    assert_eq!(status, 201, "{product}");
    let order = json!({
        "lines": [{"product_id": product["id"], "quantity": 1}],
        "shipping_address": {"name": "Ada", "city": "Berlin", "country": "DE"},
        "payment_method": "card",
    });
    (buyer, order, seller)
}
