//! Nothing acknowledged is lost when the process dies. Clients place and pay orders with
//! Idempotency-Keys against the real binary; the server is killed with SIGKILL at random
//! moments (ten times per backend), restarted on the same database, and every answer a
//! client got — a 201 for a placement, a 200 for a payment — must be found in the orders
//! the restarted server returns. Retried keys must not create a second order.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const ADMIN_TOKEN: &str = "kill-test-admin-token-0123456789abcdef";
const KILLS: usize = 10;
const CLIENTS: usize = 4;

/// The server binary, started on `db` with a free port; returns it and its base URL.
async fn start(db: &str) -> (Child, String) {
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

/// A tiny deterministic generator, seeded per run and printed, for the kill moments.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// What clients were told: order id → the furthest acknowledged step (1 placed, 2 paid).
type Acknowledged = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, u8>>>;

async fn post(
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

/// One client: place, then pay, with a key per step, until the server dies under it.
async fn client_loop(
    base: String,
    token: String,
    order_body: Value,
    prefix: String,
    acknowledged: Acknowledged,
) {
    let client = reqwest::Client::new();
    for index in 0.. {
        let key = format!("{prefix}-place-{index}");
        let Some((status, body)) = post(
            &client,
            &format!("{base}/api/v1/orders"),
            &token,
            &key,
            &order_body,
        )
        .await
        else {
            return;
        };
        if status != 201 {
            continue;
        }
        let id = body["id"].as_str().expect("an id").to_owned();
        acknowledged.lock().expect("lock").insert(id.clone(), 1);
        let key = format!("{prefix}-pay-{index}");
        let Some((status, _)) = post(
            &client,
            &format!("{base}/api/v1/orders/{id}/pay"),
            &token,
            &key,
            &json!({}),
        )
        .await
        else {
            return;
        };
        if status == 200 {
            acknowledged.lock().expect("lock").insert(id, 2);
        }
    }
}

async fn setup(base: &str) -> (String, Value) {
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
    (buyer, order)
}

/// Every order of the buyer as the server has it now: id → status.
async fn orders(base: &str, token: &str) -> std::collections::BTreeMap<String, String> {
    let client = reqwest::Client::new();
    let mut all = std::collections::BTreeMap::new();
    let mut after = String::new();
    loop {
        let page: Value = client
            .get(format!("{base}/api/v1/orders?limit=100{after}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        for order in page["orders"].as_array().expect("orders") {
            all.insert(
                order["id"].as_str().expect("id").to_owned(),
                order["status"].as_str().expect("status").to_owned(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => after = format!("&after={cursor}"),
            None => return all,
        }
    }
}

async fn kill_and_check(db: &str, backend: &str) {
    orderly_app::delivery::install_crypto_provider();
    #[allow(
        clippy::disallowed_methods,
        reason = "a seed for the kill moments, printed to replay"
    )]
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |elapsed| elapsed.as_nanos() as u64);
    println!("{backend}: kill moments seeded with {seed}");
    let mut rng = Lcg(seed);
    let (mut child, base) = start(db).await;
    let (buyer, order_body) = setup(&base).await;
    let acknowledged: Acknowledged = Default::default();
    let mut base = base;
    for round in 0..KILLS {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                tokio::spawn(client_loop(
                    base.clone(),
                    buyer.clone(),
                    order_body.clone(),
                    format!("r{round}c{client}"),
                    acknowledged.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100 + rng.below(400))).await;
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("the server died");
        for client in clients {
            let _ = client.await;
        }
        let (restarted, url) = start(db).await;
        child = restarted;
        base = url;
        let stored = orders(&base, &buyer).await;
        let told = acknowledged.lock().expect("lock").clone();
        for (id, step) in &told {
            let status = stored.get(id).unwrap_or_else(|| {
                panic!("{backend}, kill {round}: acknowledged order {id} is gone")
            });
            if *step == 2 {
                assert_eq!(
                    status, "payment_verification",
                    "{backend}, kill {round}: order {id} was paid"
                );
            }
        }
        // Every stored order was acknowledged, or was in flight when the server died:
        // never more than one per client and round.
        let unacknowledged = stored.keys().filter(|id| !told.contains_key(*id)).count();
        assert!(
            unacknowledged <= CLIENTS * (round + 1),
            "{backend}: {unacknowledged} orders nobody was told of"
        );
    }
    let told = acknowledged.lock().expect("lock").clone();
    let paid = told.values().filter(|step| **step == 2).count();
    println!(
        "{backend}: {KILLS} kills, {} orders acknowledged, {paid} payments",
        told.len()
    );
    assert!(
        told.len() >= KILLS,
        "{backend}: the clients got answers between the kills"
    );
    child.start_kill().expect("stop");
    let _ = child.wait().await;
}

#[tokio::test]
async fn sigkill_at_random_moments_loses_nothing_acknowledged_on_sqlite() {
    let database = orderly_testkit::TestDb::sqlite();
    kill_and_check(&database.url, "sqlite").await;
    database.drop_database().await;
}

#[tokio::test]
async fn sigkill_at_random_moments_loses_nothing_acknowledged_on_postgres() {
    let Some(admin_url) = orderly_testkit::postgres_url() else {
        println!("skipped: ORDERLY_TEST_POSTGRES_URL is not set");
        return;
    };
    let database = orderly_testkit::TestDb::postgres(&admin_url).await;
    kill_and_check(&database.url, "postgres").await;
    database.drop_database().await;
}
