//! The `orderly` binary. Until the HTTP service lands it offers the domain's own tools:
//! `story` plays the seed guides' stories and prints them, `simulate` runs the seeded
//! simulation for any number of steps, and `policy` prints the default policy file.

#![forbid(unsafe_code)]

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
    }
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
