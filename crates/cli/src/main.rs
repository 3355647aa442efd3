//! The `orderly` binary. Until the HTTP service lands it offers the domain's own tools:
//! `story` plays the seed guides' stories and prints them, `simulate` runs the seeded
//! simulation for any number of steps, and `policy` prints the default policy file.

#![forbid(unsafe_code)]

mod bench_http;
mod callback;
mod config;
mod serve;
mod story;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "orderly",
    version,
    about = "An order-lifecycle engine for marketplaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the HTTP API and the deadline worker.
    Serve {
        /// `sqlite://PATH` (default `sqlite://orderly.db`) or `postgres://...`.
        #[arg(long)]
        db: Option<String>,
        /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free port).
        #[arg(long)]
        listen: Option<String>,
        /// Run on a clock that only `POST /api/v1/test-clock/advance` moves.
        #[arg(long)]
        test_clock: bool,
        /// Seed a demo seller, products and buyers, and print their tokens.
        #[arg(long)]
        demo: bool,
        /// A TOML configuration file (see `orderly print-config`).
        #[arg(long)]
        config: Option<String>,
    },
    /// Print a commented example configuration file.
    PrintConfig,
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        what: AccountCommand,
    },
    /// Play the seed guides' stories through the engine and print them.
    Story,
    /// Run the deterministic simulation and check every invariant after every step.
    Simulate {
        /// The seed; the same seed replays the same run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many steps to run.
        #[arg(long, default_value_t = 1_000_000)]
        steps: u64,
        /// Vary the policy settings the seeds disagree on, chosen by the seed.
        #[arg(long)]
        random_policy: bool,
    },
    /// Print the default policy as TOML, every key with its default.
    Policy,
    /// Apply the database migrations and exit.
    Migrate {
        /// `sqlite://PATH` or `postgres://...`.
        #[arg(long, default_value = "sqlite://orderly.db")]
        db: String,
    },
    /// Rebuild every read model from the event log, then check them.
    RebuildProjections {
        #[arg(long, default_value = "sqlite://orderly.db")]
        db: String,
    },
    /// Compare every read model with the event log.
    Check {
        #[arg(long, default_value = "sqlite://orderly.db")]
        db: String,
    },
    /// Sign and send a carrier's or payment provider's callback, as the integration would.
    Callback {
        #[command(subcommand)]
        what: CallbackCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and print its API token (shown only once).
    Create {
        /// buyer, seller or admin.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "sqlite://orderly.db")]
        db: String,
    },
}

#[derive(Subcommand)]
enum CallbackCommand {
    /// A tracking scan: `orderly callback carrier --tracking JD014600 --status delivered`.
    Carrier {
        /// The service's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The integration's id (from `POST /api/v1/integrations`).
        #[arg(long)]
        integration: String,
        /// The integration's secret.
        #[arg(long, env = "ORDERLY_INTEGRATION_SECRET")]
        secret: String,
        #[arg(long, default_value = "DHL")]
        carrier: String,
        #[arg(long)]
        tracking: String,
        /// in_transit, out_for_delivery, delivered, delivery_failed or returned_to_sender.
        #[arg(long)]
        status: String,
        #[arg(long)]
        location: Option<String>,
    },
    /// A payment verdict or refund settlement.
    Payment {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        #[arg(long)]
        integration: String,
        #[arg(long, env = "ORDERLY_INTEGRATION_SECRET")]
        secret: String,
        #[arg(long)]
        order: String,
        /// payment_verified, payment_declined or refund_settled.
        #[arg(long)]
        kind: String,
        /// The refund, for refund_settled.
        #[arg(long)]
        refund: Option<u32>,
    },
}

#[derive(Subcommand)]
enum Bench {
    /// Raw single-row commits against full order commands, on one database, in one run.
    Store {
        /// Defaults to a fresh SQLite file in the temp directory.
        #[arg(long)]
        db: Option<String>,
        /// `synchronous` for SQLite: FULL (default) or NORMAL.
        #[arg(long, default_value = "FULL")]
        sqlite_synchronous: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Order stories per client (5 commands each).
        #[arg(long, default_value_t = 200)]
        stories: u64,
        /// What to measure: `both`, or `raw` / `commands` alone (to count one phase's
        /// instructions, e.g. under callgrind).
        #[arg(long, default_value = "both", value_parser = ["both", "raw", "commands"])]
        phase: String,
    },
    /// The HTTP API under load: GET /healthz as a baseline, then the cancellation story
    /// (place, pay, verify, request, approve) from many concurrent clients, in one run.
    Http {
        /// Defaults to a fresh SQLite file in the temp directory.
        #[arg(long)]
        db: Option<String>,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seconds per phase.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// `serve` processes sharing the database (PostgreSQL only), the clients spread
        /// over them.
        #[arg(long, default_value_t = 1)]
        servers: usize,
        /// Sellers, each with one product, the clients spread over them. One (the default)
        /// is a single hot seller and product that every command touches; more measure a
        /// market where commands of different orders do not meet on a row.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
        sellers: u16,
    },
}

/// mimalloc for every allocation of the process, SQLite's included: under the HTTP
/// story it takes a sixth off the server's CPU per command against glibc's malloc, whose
/// allocations and frees were a tenth of the SQLite writer's time (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::Serve {
            db,
            listen,
            test_clock,
            demo,
            config,
        } => block_on(async move {
            let mut config = config::Config::load(config.as_deref(), std::env::vars())?;
            if let Some(db) = db {
                config.server.db = db;
            }
            if let Some(listen) = listen {
                config.server.listen = listen;
            }
            init_tracing(&config.log);
            let options = serve::ServeOptions {
                test_clock,
                demo,
                admin_token: std::env::var("ORDERLY_ADMIN_TOKEN")
                    .ok()
                    .filter(|token| !token.is_empty()),
            };
            serve::run(config, options).await
        }),
        Commands::PrintConfig => {
            print!("{}", config::EXAMPLE);
            std::process::ExitCode::SUCCESS
        }
        Commands::Account {
            what: AccountCommand::Create { role, name, db },
        } => block_on(async move {
            let role = match role.as_str() {
                "buyer" => orderly_domain::Role::Buyer,
                "seller" => orderly_domain::Role::Seller,
                "admin" => orderly_domain::Role::Admin,
                other => anyhow::bail!("`{other}` is not a role; use buyer, seller or admin"),
            };
            let store = orderly_store::connect(&db, &Default::default()).await?;
            let app = orderly_app::App::new(
                store,
                orderly_domain::Policy::default(),
                std::sync::Arc::new(orderly_app::SystemClock),
                orderly_app::AppConfig::default(),
            );
            let (account, token) = app.create_account(role, &name, None, |_| None).await?;
            println!(
                "created {} {} ({})",
                account.role.code(),
                account.id,
                account.name
            );
            println!("token: {token}");
            println!("(shown only once; it is stored as a hash)");
            Ok(())
        }),
        Commands::Story => {
            story::play_all();
            std::process::ExitCode::SUCCESS
        }
        Commands::Simulate {
            seed,
            steps,
            random_policy,
        } => simulate(seed, steps, random_policy),
        Commands::Policy => {
            print!("{}", orderly_domain::Policy::default().to_toml_string());
            std::process::ExitCode::SUCCESS
        }
        Commands::Migrate { db } => block_on(async move {
            orderly_store::connect(&db, &Default::default()).await?;
            println!("{}: migrations applied", orderly_store::redact_url(&db));
            Ok(())
        }),
        Commands::RebuildProjections { db } => block_on(async move {
            let store = existing_store(&db).await?;
            let rebuilt = store.rebuild_projections().await?;
            println!(
                "rebuilt {} orders from {} events",
                rebuilt.orders, rebuilt.events
            );
            report_integrity(store.check_integrity().await?)
        }),
        Commands::Check { db } => block_on(async move {
            let store = existing_store(&db).await?;
            report_integrity(store.check_integrity().await?)
        }),
        Commands::Callback {
            what:
                CallbackCommand::Carrier {
                    url,
                    integration,
                    secret,
                    carrier,
                    tracking,
                    status,
                    location,
                },
        } => block_on(
            callback::Callback::carrier(
                url,
                integration,
                secret,
                carrier,
                tracking,
                status,
                location,
            )
            .send(),
        ),
        Commands::Callback {
            what:
                CallbackCommand::Payment {
                    url,
                    integration,
                    secret,
                    order,
                    kind,
                    refund,
                },
        } => block_on(
            callback::Callback::payment(url, integration, secret, order, kind, refund).send(),
        ),
        Commands::Bench {
            what:
                Bench::Http {
                    db,
                    clients,
                    seconds,
                    servers,
                    sellers,
                },
        } => block_on(bench_http::run(
            db,
            clients,
            seconds,
            servers,
            usize::from(sellers),
        )),
        Commands::Bench {
            what:
                Bench::Store {
                    db,
                    sqlite_synchronous,
                    clients,
                    stories,
                    phase,
                },
        } => block_on(async move {
            let temp =
                std::env::temp_dir().join(format!("orderly-bench-{}.db", std::process::id()));
            let url = db.unwrap_or_else(|| format!("sqlite://{}", temp.display()));
            let options = orderly_store::StoreOptions {
                synchronous: sqlite_synchronous.clone(),
                ..Default::default()
            };
            let store = orderly_store::connect(&url, &options).await?;
            let phases = match phase.as_str() {
                "raw" => orderly_store::bench::Phases::Raw,
                "commands" => orderly_store::bench::Phases::Commands,
                _ => orderly_store::bench::Phases::Both,
            };
            let report = orderly_store::bench::run(
                &url,
                store,
                clients,
                stories,
                &sqlite_synchronous,
                phases,
            )
            .await?;
            println!("{report}");
            for suffix in ["", "-wal", "-shm"] {
                let mut file = temp.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
            Ok(())
        }),
    }
}

fn block_on(work: impl std::future::Future<Output = anyhow::Result<()>>) -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(work) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(log: &config::LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log written to a file or a pipe stays plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The store of a database that must be there already: inspecting one that is not would
/// create it empty and find nothing wrong.
async fn existing_store(db: &str) -> anyhow::Result<std::sync::Arc<dyn orderly_store::Store>> {
    if !orderly_store::database_exists(db) {
        anyhow::bail!(
            "there is no database at {}; give --db with the URL `orderly serve` uses (sqlite://PATH or postgres://...)",
            orderly_store::redact_url(db)
        );
    }
    Ok(orderly_store::connect(db, &Default::default()).await?)
}

fn report_integrity(integrity: orderly_store::Integrity) -> anyhow::Result<()> {
    println!(
        "checked {} orders, {} events",
        integrity.orders, integrity.events
    );
    if integrity.problems.is_empty() {
        println!("every read model agrees with the event log");
        return Ok(());
    }
    for problem in &integrity.problems {
        println!("  problem: {problem}");
    }
    anyhow::bail!("{} problems found", integrity.problems.len())
}

#[allow(
    clippy::disallowed_methods,
    reason = "the CLI measures how long the simulation took; the domain never reads a clock"
)]
fn simulate(seed: u64, steps: u64, random_policy: bool) -> std::process::ExitCode {
    let mut config = orderly_sim::SimConfig::new(seed, steps);
    if random_policy {
        config = config.with_random_policy();
    }
    let started = std::time::Instant::now();
    let outcome = orderly_sim::run(&config);
    let elapsed = started.elapsed();
    match outcome {
        Ok(report) => {
            let rate = report.steps as f64 / elapsed.as_secs_f64().max(1e-9);
            println!(
                "seed {seed}: {} steps in {:.2?} ({rate:.0} steps/s)",
                report.steps, elapsed
            );
            println!(
                "  commands accepted {}, rejected {}, deadlines fired {}",
                report.accepted, report.rejected, report.deadlines_fired
            );
            println!(
                "  orders placed {}, finished {} (completed {}, cancelled {}, closed {}), refunds {}, claims settled {}, events {}",
                report.orders_placed,
                report.orders_finished,
                report.endings[0],
                report.endings[1],
                report.endings[2],
                report.refunds,
                report.claims_settled,
                report.events
            );
            println!("  every invariant held after every step");
            std::process::ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("{failure}");
            std::process::ExitCode::FAILURE
        }
    }
}
