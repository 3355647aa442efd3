//! Crash safety: a child process (`orderly-crash-writer`) commits commands as fast as it
//! can and prints each one once it is acknowledged; the test kills it with SIGKILL at a
//! pseudo-random moment, 20 times per backend, and after each restart checks that every
//! acknowledged command is there, nothing is half written, and the integrity check passes.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use orderly_domain::OrderId;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::*;

const KILLS_PER_BACKEND: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commands_survive_sigkill() {
    for database in databases().await {
        // The schema exists before the first child starts.
        drop(open(&database).await);
        let mut acknowledged: HashMap<OrderId, u64> = HashMap::new();
        let mut total_acks = 0_u64;
        for round in 0..KILLS_PER_BACKEND {
            // Arrange: a writer running flat out.
            let mut child =
                tokio::process::Command::new(env!("CARGO_BIN_EXE_orderly-crash-writer"))
                    .arg(&database.url)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("start the crash writer");
            let stdout = child.stdout.take().expect("piped stdout");
            let mut lines = BufReader::new(stdout).lines();
            // Act: once it has acknowledged its first command, let it run 20 to 220 ms
            // more (varied per round), then SIGKILL it.
            let first = lines.next_line().await.expect("read the writer's output");
            record(
                &mut acknowledged,
                &first.expect("the writer started"),
                &mut total_acks,
            );
            let run_for = Duration::from_millis(20 + (round * 7_919) % 200);
            let kill_at = tokio::time::Instant::now() + run_for;
            loop {
                tokio::select! {
                    line = lines.next_line() => match line.expect("read the writer's output") {
                        Some(line) => record(&mut acknowledged, &line, &mut total_acks),
                        None => panic!("{}: the writer stopped by itself", database.backend),
                    },
                    _ = tokio::time::sleep_until(kill_at) => break,
                }
            }
            child.start_kill().expect("SIGKILL the writer");
            child.wait().await.expect("reap the writer");
            // Whatever it printed before dying was acknowledged too.
            while let Some(line) = lines.next_line().await.expect("drain the output") {
                record(&mut acknowledged, &line, &mut total_acks);
            }
            // Assert: after a restart, everything acknowledged is there, in full.
            let store = open(&database).await;
            for (order_id, version) in &acknowledged {
                let order = store
                    .load_order(*order_id)
                    .await
                    .expect("load")
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: acknowledged order {order_id} is lost",
                            database.backend
                        )
                    });
                assert!(
                    order.version >= *version,
                    "{}: order {order_id} acknowledged at version {version} but stored at {}",
                    database.backend,
                    order.version
                );
            }
            let integrity = store.check_integrity().await.expect("integrity check");
            assert_eq!(
                integrity.problems,
                Vec::<String>::new(),
                "{} after kill {round}",
                database.backend
            );
        }
        assert!(
            total_acks >= KILLS_PER_BACKEND * 5,
            "{}: the writer barely wrote ({total_acks} acks)",
            database.backend
        );
        println!(
            "{}: {total_acks} acknowledged commands over {KILLS_PER_BACKEND} kills",
            database.backend
        );
        database.drop_database().await;
    }
}

fn record(acknowledged: &mut HashMap<OrderId, u64>, line: &str, total: &mut u64) {
    let (id, version) = line.split_once(' ').expect("lines are `ORDER_ID VERSION`");
    let order_id = OrderId::from_uuid(id.parse().expect("an order id"));
    let version: u64 = version.parse().expect("a version");
    let entry = acknowledged.entry(order_id).or_default();
    *entry = (*entry).max(version);
    *total += 1;
}
