//! Nothing acknowledged is lost when the process dies. Clients place and pay orders with
//! Idempotency-Keys against the real binary; the server is killed with SIGKILL at random
//! moments (ten times per backend), restarted on the same database, and every answer a
//! client got — a 201 for a placement, a 200 for a payment — must be found in the orders
//! the restarted server returns. Retried keys must not create a second order.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const KILLS: usize = 10;
const CLIENTS: usize = 4;

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
    let (buyer, order_body, _) = setup(&base).await;
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
