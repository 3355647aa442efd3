//! `orderly bench http`: the real server in-process on 127.0.0.1, then in ONE run a baseline
//! of concurrent clients hammering `GET /healthz`, and the same clients playing the
//! place → pay → verify → request cancellation → approve story over HTTP. Prints requests
//! per second and p50/p99 latency for both and the ratio, so figures from a noisy machine
//! can be compared. Every loop is bounded by time and count; only loopback is used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orderly_app::{App, AppConfig, NewProduct, TestClock};
use orderly_domain::{Currency, Money, Role};
use orderly_server::AppState;
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "bench-admin-token";
/// Most requests one client makes in one phase, whatever the duration.
const REQUESTS_PER_CLIENT_MAX: usize = 1_000_000;

/// Latencies and errors of one phase.
#[derive(Default)]
struct Phase {
    latencies: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
}

impl Phase {
    fn merge(&mut self, other: Phase) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }

    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&mut self, percent: usize) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let index = (self.latencies.len() * percent / 100).min(self.latencies.len() - 1);
        self.latencies[index]
    }
}

pub async fn run(db: Option<String>, clients: usize, seconds: u64) -> anyhow::Result<()> {
    let clients = clients.clamp(1, 1_024);
    let temp = std::env::temp_dir().join(format!("orderly-bench-http-{}.db", std::process::id()));
    let url = db.unwrap_or_else(|| format!("sqlite://{}", temp.display()));
    let store = orderly_store::connect(&url, &Default::default()).await?;
    #[allow(
        clippy::disallowed_methods,
        reason = "the benchmark's clock starts at the real time once"
    )]
    let start = jiff::Timestamp::now();
    let app = Arc::new(App::with_test_clock(
        store,
        orderly_domain::Policy::default(),
        Arc::new(TestClock::new(start)),
        AppConfig {
            admin_token: Some(ADMIN_TOKEN.into()),
            ..Default::default()
        },
    ));

    // The marketplace: one seller with a product that never runs out, one buyer per client.
    let (seller, seller_token) = app
        .create_account(Role::Seller, "Bench Store", None, |_| None)
        .await?;
    let eur = Currency::parse("EUR")?;
    let product = app
        .create_product(
            seller.id,
            NewProduct {
                title: "Bench item".into(),
                price: Money::parse(1_000, eur)?,
                shipping_fee: Money::parse(100, eur)?,
                stock: orderly_app::service::STOCK_MAX,
                processing_days: 5,
            },
            |_| None,
        )
        .await?;
    let mut buyers = Vec::with_capacity(clients);
    for index in 0..clients {
        buyers.push(
            app.create_account(Role::Buyer, &format!("Bench buyer {index}"), None, |_| None)
                .await?
                .1,
        );
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(orderly_server::serve(
        listener,
        AppState::new(app, orderly_server::ServerOptions::default()),
        async move {
            let _ = stopped.changed().await;
        },
    ));
    orderly_app::delivery::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let duration = Duration::from_secs(seconds.max(1));

    let mut health = timed_phase(clients, duration, |_| {
        let client = client.clone();
        let url = format!("{base}/healthz");
        move |_| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let ok = client
                    .get(&url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                vec![ok]
            }
        }
    })
    .await;

    let mut story = timed_phase(clients, duration, |index| {
        let client = client.clone();
        let base = base.clone();
        let buyer = buyers[index].clone();
        let seller = seller_token.clone();
        let product = product.id.to_string();
        move |_| {
            let client = client.clone();
            let base = base.clone();
            let buyer = buyer.clone();
            let seller = seller.clone();
            let product = product.clone();
            async move { play_story(&client, &base, &buyer, &seller, &product).await }
        }
    })
    .await;

    let _ = stop.send(true);
    server.await??;
    if url.starts_with("sqlite:") {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = temp.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }

    println!(
        "backend {}, {clients} clients, {seconds} s per phase",
        if url.starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    );
    println!(
        "  GET /healthz (baseline): {:>8.0} req/s   p50 {:>8.2?}   p99 {:>8.2?}   errors {}",
        health.per_sec(),
        health.percentile(50),
        health.percentile(99),
        health.errors
    );
    println!(
        "  order commands (POST):   {:>8.0} cmd/s   p50 {:>8.2?}   p99 {:>8.2?}   errors {}",
        story.per_sec(),
        story.percentile(50),
        story.percentile(99),
        story.errors
    );
    println!(
        "  ratio commands/healthz: {:.3}",
        story.per_sec() / health.per_sec().max(1e-9)
    );
    if story.errors > 0 {
        anyhow::bail!("{} commands failed", story.errors);
    }
    Ok(())
}

/// Runs `clients` tasks, each calling its step function repeatedly until `duration` is up;
/// a step returns one success flag per request it made, timed together.
#[allow(
    clippy::disallowed_methods,
    reason = "a load benchmark measures wall time"
)]
async fn timed_phase<Make, Step, Fut>(clients: usize, duration: Duration, make: Make) -> Phase
where
    Make: Fn(usize) -> Step,
    Step: Fn(usize) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<bool>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for index in 0..clients {
        let step = make(index);
        tasks.push(tokio::spawn(async move {
            let mut phase = Phase::default();
            for round in 0..REQUESTS_PER_CLIENT_MAX {
                if Instant::now() >= deadline {
                    break;
                }
                let before = Instant::now();
                let outcomes = step(round).await;
                let each = before.elapsed() / outcomes.len().max(1) as u32;
                for ok in outcomes {
                    phase.latencies.push(each);
                    if !ok {
                        phase.errors += 1;
                    }
                }
            }
            phase
        }));
    }
    let mut total = Phase::default();
    for task in tasks {
        if let Ok(phase) = task.await {
            total.merge(phase);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// One story: five commands; returns whether each answered as it should.
async fn play_story(
    client: &reqwest::Client,
    base: &str,
    buyer: &str,
    seller: &str,
    product: &str,
) -> Vec<bool> {
    let post = |token: &str, path: String, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token.to_owned())
            .json(&body)
            .send()
    };
    let mut outcomes = Vec::with_capacity(5);
    let placed = post(
        buyer,
        "/api/v1/orders".into(),
        json!({
            "lines": [{"product_id": product, "quantity": 1}],
            "shipping_address": {"name": "Bench", "city": "Loopback", "country": "DE"},
            "payment_method": "card",
        }),
    )
    .await;
    let Ok(placed) = placed else {
        return vec![false];
    };
    let placed_ok = placed.status().as_u16() == 201;
    let id = match placed.json::<Value>().await {
        Ok(body) if placed_ok => body["id"].as_str().unwrap_or_default().to_owned(),
        _ => return vec![false],
    };
    outcomes.push(true);
    let steps: [(&str, &str, Value, u16); 4] = [
        (buyer, "pay", json!({"method": "card"}), 200),
        (
            ADMIN_TOKEN,
            "verify-payment",
            json!({"outcome": "approved"}),
            200,
        ),
        (buyer, "cancel", json!({"reason": "no_longer_needed"}), 202),
        (seller, "cancellation/approve", json!({}), 200),
    ];
    for (token, action, body, expected) in steps {
        let ok = post(token, format!("/api/v1/orders/{id}/{action}"), body)
            .await
            .map(|response| response.status().as_u16() == expected)
            .unwrap_or(false);
        outcomes.push(ok);
        if !ok {
            break;
        }
    }
    outcomes
}
