//! `orderly bench http`: this binary's own `serve` started as a child process on 127.0.0.1
//! (so that its CPU time and memory are its own, apart from the load generator's), then in
//! ONE run a baseline of concurrent clients hammering `GET /healthz`, and the same clients
//! playing the cancel story over HTTP: place → pay → verify (admin) → request cancellation
//! → approve (seller), each POST with its own `Idempotency-Key` as a careful client sends
//! it. Prints rates, p50/p99/p999 per request and per step, the server's CPU time per
//! request (from `/proc`), on SQLite the bytes it had written to storage per command, its
//! peak RSS, and the ratio of the story's rate to the
//! baseline's, so figures from a noisy machine can be compared. Every loop is bounded by
//! time and count; only loopback is used.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";
/// Most requests one client makes in one phase, whatever the duration.
const REQUESTS_PER_CLIENT_MAX: usize = 1_000_000;
/// The story's steps, in order; a request's step is its index here.
const STEPS: [&str; 5] = ["place", "pay", "verify", "request cancellation", "approve"];
/// Linux reports CPU time in ticks of 1/100 s (`USER_HZ`) on every architecture it runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// Latencies (by step) and errors of one phase.
#[derive(Default)]
struct Phase {
    latencies: Vec<(u8, Duration)>,
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

    /// p50, p99 and p999 of the requests of `step` (all of them when `None`).
    fn percentiles(&self, step: Option<u8>) -> [Duration; 3] {
        let mut times: Vec<Duration> = self
            .latencies
            .iter()
            .filter(|(of, _)| step.is_none_or(|step| *of == step))
            .map(|(_, time)| *time)
            .collect();
        if times.is_empty() {
            return [Duration::ZERO; 3];
        }
        times.sort_unstable();
        [500, 990, 999].map(|permille| times[(times.len() * permille / 1000).min(times.len() - 1)])
    }
}

/// The server under test: a child process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &str, log: &std::path::Path) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
            .env("ORDERLY_ADMIN_TOKEN", ADMIN_TOKEN)
            // One address makes every request and each buyer places thousands of orders:
            // the per-account and per-address limits would answer most of them 429/409.
            .env("ORDERLY__SERVER__RATE_LIMIT_PER_MINUTE", "0")
            .env("ORDERLY__SERVER__FAILED_SIGN_INS_PER_MINUTE", "0")
            .env("ORDERLY__POLICY__UNPAID_ORDERS_PER_BUYER_MAX", "100000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (found, url) = std::sync::mpsc::channel();
        // Reads the URL the server prints once bound, then drains the rest.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on http://") {
                    let url: String = line[at + "listening on ".len()..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    let _ = found.send(url);
                }
            }
        });
        let mut server = Self {
            child,
            base: String::new(),
        };
        server.base = url.recv_timeout(Duration::from_secs(60)).map_err(|_| {
            anyhow::anyhow!(
                "the server printed no URL within 60 s; see {}",
                log.display()
            )
        })?;
        Ok(server)
    }

    /// User plus system CPU time the server has used so far.
    fn cpu(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which may hold spaces) in parentheses: the 12th
        // and 13th of those are utime and stime.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |index: usize| -> anyhow::Result<f64> {
            Ok(fields
                .get(index)
                .ok_or_else(|| anyhow::anyhow!("/proc stat has no field {index}"))?
                .parse::<f64>()?)
        };
        Ok(Duration::from_secs_f64(
            (ticks(11)? + ticks(12)?) / TICKS_PER_SECOND,
        ))
    }

    /// Bytes the server has had written to storage so far (`write_bytes` of
    /// `/proc/PID/io`: what reached the disk or its cache, not what was asked to be);
    /// `None` where the kernel does not say.
    fn written(&self) -> Option<u64> {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.child.id())).ok()?;
        io.lines()
            .find_map(|line| line.strip_prefix("write_bytes:"))
            .and_then(|bytes| bytes.trim().parse().ok())
    }

    /// The most memory the server has held at once, in bytes.
    fn peak_rss(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .ok_or_else(|| anyhow::anyhow!("/proc status has no VmHWM"))?;
        Ok(kib * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn run(
    db: Option<String>,
    clients: usize,
    seconds: u64,
    servers: usize,
    sellers: usize,
) -> anyhow::Result<()> {
    let clients = clients.clamp(1, 1_024);
    let servers = servers.clamp(1, 16);
    if sellers > clients {
        anyhow::bail!("--sellers {sellers} is more than the {clients} clients that would use them");
    }
    if servers > 1 && !db.as_deref().is_some_and(|db| db.starts_with("postgres")) {
        anyhow::bail!(
            "several servers share one database on PostgreSQL only: give --db postgres://…"
        );
    }
    let temp = std::env::temp_dir().join(format!("orderly-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&temp)?;
    let url = db.unwrap_or_else(|| format!("sqlite://{}", temp.join("orderly.db").display()));
    let outcome = measure(&url, &temp, clients, seconds, servers, sellers).await;
    if outcome.is_ok() && url.starts_with("sqlite:") {
        let _ = std::fs::remove_dir_all(&temp);
    } else {
        println!("  (server logs in {})", temp.display());
    }
    outcome
}

#[allow(
    clippy::disallowed_methods,
    reason = "a load benchmark measures wall time"
)]
async fn measure(
    url: &str,
    temp: &std::path::Path,
    clients: usize,
    seconds: u64,
    servers: usize,
    sellers: usize,
) -> anyhow::Result<()> {
    // Several servers on one database (PostgreSQL): client `i` talks to server `i mod n`.
    let fleet = (0..servers)
        .map(|index| {
            let log = if servers == 1 {
                temp.join("server.log")
            } else {
                temp.join(format!("server-{index}.log"))
            };
            Server::start(url, &log)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bases: Vec<String> = fleet.iter().map(|server| server.base.clone()).collect();
    let cpu = || -> anyhow::Result<Duration> {
        fleet
            .iter()
            .map(Server::cpu)
            .sum::<anyhow::Result<Duration>>()
    };
    orderly_app::delivery::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let base = bases[0].clone();

    // The marketplace, through the API: sellers each with a product that never runs out,
    // one buyer per client.
    let account = async |role: &str, name: String| -> anyhow::Result<String> {
        let created: Value = client
            .post(format!("{base}/api/v1/accounts"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"role": role, "name": name}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(created["token"].as_str().unwrap_or_default().to_owned())
    };
    let mut shops = Vec::with_capacity(sellers);
    for index in 0..sellers {
        let seller = account("seller", format!("Bench Store {index}")).await?;
        let product: Value = client
            .post(format!("{base}/api/v1/products"))
            .bearer_auth(&seller)
            .json(&json!({
                "title": "Bench item",
                "price": {"amount": 1_000, "currency": "EUR"},
                "shipping_fee": {"amount": 100, "currency": "EUR"},
                "stock": orderly_app::service::STOCK_MAX,
                "processing_days": 5,
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let product = product["id"].as_str().unwrap_or_default().to_owned();
        shops.push((seller, product));
    }
    let mut buyers = Vec::with_capacity(clients);
    for index in 0..clients {
        buyers.push(account("buyer", format!("Bench buyer {index}")).await?);
    }
    let duration = Duration::from_secs(seconds.max(1));

    let cpu_before = cpu()?;
    let health = timed_phase(clients, duration, |index| {
        let client = client.clone();
        let url = format!("{}/healthz", bases[index % servers]);
        move |_| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let started = Instant::now();
                let ok = client
                    .get(&url)
                    .send()
                    .await
                    .map(|response| response.status().is_success())
                    .unwrap_or(false);
                vec![Sample {
                    step: 0,
                    latency: started.elapsed(),
                    ok,
                }]
            }
        }
    })
    .await;
    let cpu_health = cpu()? - cpu_before;

    let cpu_before = cpu()?;
    let written = || -> Option<u64> { fleet.iter().map(Server::written).sum() };
    let written_before = written();
    // The bootstrap admin is the same account in every run: keys unique to this run keep
    // a run on a database used before from replaying that run's answers.
    let run = orderly_app::service::new_id();
    let story = timed_phase(clients, duration, |index| {
        let client = client.clone();
        let base = bases[index % servers].clone();
        let buyer = buyers[index].clone();
        let (seller, product) = shops[index % sellers].clone();
        move |round| {
            let story = Story {
                client: client.clone(),
                base: base.clone(),
                buyer: buyer.clone(),
                seller: seller.clone(),
                product: product.clone(),
                keys: format!("bench-{run}-{index}-{round}"),
            };
            async move { story.play().await }
        }
    })
    .await;
    let cpu_story = cpu()? - cpu_before;
    let written_story = written()
        .zip(written_before)
        .map(|(after, before)| after.saturating_sub(before));
    let peak_rss = fleet
        .iter()
        .map(Server::peak_rss)
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    drop(fleet);

    let per_request = |cpu: Duration, phase: &Phase| {
        cpu.as_secs_f64() * 1e6 / phase.latencies.len().max(1) as f64
    };
    println!(
        "backend {}, {clients} clients, {sellers} seller{} with a product each, {seconds} s per phase, {}",
        if url.starts_with("sqlite:") {
            "sqlite (synchronous=FULL)"
        } else {
            "postgres"
        },
        if sellers == 1 { "" } else { "s" },
        if servers == 1 {
            "server in its own process".to_owned()
        } else {
            format!("{servers} server processes on one database (CPU summed over them)")
        }
    );
    let line = |label: &str, unit: &str, phase: &Phase, cpu: Duration| {
        let [p50, p99, p999] = phase.percentiles(None);
        println!(
            "  {label:<24} {:>8.0} {unit}   p50 {p50:>8.2?}   p99 {p99:>8.2?}   p999 {p999:>8.2?}   \
             server CPU {:>6.1} µs/{}   errors {}",
            phase.per_sec(),
            per_request(cpu, phase),
            unit.trim_end_matches("/s"),
            phase.errors
        );
    };
    line("GET /healthz (baseline):", "req/s", &health, cpu_health);
    line("order commands (POST):", "cmd/s", &story, cpu_story);
    for (index, step) in STEPS.iter().enumerate() {
        let [p50, p99, p999] = story.percentiles(Some(index as u8));
        println!("    {step:<22} p50 {p50:>8.2?}   p99 {p99:>8.2?}   p999 {p999:>8.2?}");
    }
    println!(
        "  ratio commands/healthz: {:.3}",
        story.per_sec() / health.per_sec().max(1e-9)
    );
    // On PostgreSQL the database writes, not orderly: only SQLite's figure says anything.
    if let (Some(bytes), true) = (written_story, url.starts_with("sqlite:")) {
        println!(
            "  written to storage: {:.1} KB per command (the log and its checkpoints)",
            bytes as f64 / 1000.0 / story.latencies.len().max(1) as f64
        );
    }
    println!(
        "  server peak RSS: {:.1} MiB{}",
        peak_rss as f64 / (1024.0 * 1024.0),
        if servers == 1 { "" } else { " (the largest)" }
    );
    if story.errors > 0 {
        anyhow::bail!("{} commands failed", story.errors);
    }
    Ok(())
}

/// One request: its step of the story, its latency, and whether it answered as it should.
struct Sample {
    step: u8,
    latency: Duration,
    ok: bool,
}

/// Runs `clients` tasks, each calling its step function repeatedly until `duration` is up;
/// a step returns the requests it made.
#[allow(
    clippy::disallowed_methods,
    reason = "a load benchmark measures wall time"
)]
async fn timed_phase<Make, Step, Fut>(clients: usize, duration: Duration, make: Make) -> Phase
where
    Make: Fn(usize) -> Step,
    Step: Fn(usize) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<Sample>> + Send,
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
                for sample in step(round).await {
                    phase.latencies.push((sample.step, sample.latency));
                    phase.errors += u64::from(!sample.ok);
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

/// One client's one cancel story.
struct Story {
    client: reqwest::Client,
    base: String,
    buyer: String,
    seller: String,
    product: String,
    /// Prefix of this story's idempotency keys.
    keys: String,
}

impl Story {
    /// Sends one POST and reports it; the answer's body when it had the expected status.
    #[allow(
        clippy::disallowed_methods,
        reason = "a load benchmark measures wall time"
    )]
    async fn post(
        &self,
        step: u8,
        token: &str,
        path: String,
        body: Value,
        expected: u16,
        samples: &mut Vec<Sample>,
    ) -> Option<Value> {
        let started = Instant::now();
        let answer = async {
            let response = self
                .client
                .post(format!("{}{path}", self.base))
                .bearer_auth(token)
                .header("Idempotency-Key", format!("{}-{step}", self.keys))
                .json(&body)
                .send()
                .await
                .ok()?;
            let status = response.status().as_u16();
            let body: Value = response.json().await.ok()?;
            (status == expected).then_some(body)
        }
        .await;
        samples.push(Sample {
            step,
            latency: started.elapsed(),
            ok: answer.is_some(),
        });
        answer
    }

    async fn play(self) -> Vec<Sample> {
        let mut samples = Vec::with_capacity(STEPS.len());
        let Some(placed) = self
            .post(
                0,
                &self.buyer,
                "/api/v1/orders".into(),
                json!({
                    "lines": [{"product_id": self.product, "quantity": 1}],
                    "shipping_address": {"name": "Bench", "city": "Loopback", "country": "DE"},
                    "payment_method": "card",
                }),
                201,
                &mut samples,
            )
            .await
        else {
            return samples;
        };
        let id = placed["id"].as_str().unwrap_or_default().to_owned();
        let steps: [(&str, &str, Value, u16); 4] = [
            (&self.buyer, "pay", json!({"method": "card"}), 200),
            (
                ADMIN_TOKEN,
                "verify-payment",
                json!({"outcome": "approved"}),
                200,
            ),
            (
                &self.buyer,
                "cancel",
                json!({"reason": "no_longer_needed"}),
                202,
            ),
            (&self.seller, "cancellation/approve", json!({}), 200),
        ];
        for (index, (token, action, body, expected)) in steps.into_iter().enumerate() {
            let path = format!("/api/v1/orders/{id}/{action}");
            if self
                .post(index as u8 + 1, token, path, body, expected, &mut samples)
                .await
                .is_none()
            {
                break;
            }
        }
        samples
    }
}
