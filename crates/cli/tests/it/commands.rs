//! The commands a newcomer tries first, run as the real binary: `serve --demo` twice on one
//! database, the plain-text log it writes to a file, and `check` and
//! `rebuild-projections` on a database that is not there, and the HTTP benchmark's harness.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::ADMIN_TOKEN;

fn orderly() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orderly"))
}

struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "orderly-cli-{name}-{}",
            orderly_app::service::new_id().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `serve --demo` on `db` until it has printed its demo, with stderr into `log`; what it
/// printed; then it is stopped.
async fn serve_demo(db: &str, log: &std::path::Path) -> String {
    let mut child = orderly()
        .args(["serve", "--demo", "--db", db, "--listen", "127.0.0.1:0"])
        .env("ORDERLY_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("a log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    // The demo ends with an empty line after its sign-in links and tokens.
    let mut blank_lines = 0;
    while blank_lines < 2 {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("serve prints its demo")
            .expect("read")
            .expect("a line");
        if line.is_empty() {
            blank_lines += 1;
        }
        printed.push_str(&line);
        printed.push('\n');
    }
    child.kill().await.expect("stopped");
    printed
}

#[tokio::test]
async fn serve_demo_twice_seeds_one_demo_market_and_logs_plain_text_to_a_file() {
    let scratch = Scratch::new("demo");
    let db = format!("sqlite://{}", scratch.0.join("demo.db").display());
    let log = scratch.0.join("serve.log");
    let first = serve_demo(&db, &log).await;
    for expected in [
        "/signin/link/",
        "API tokens (shown this once",
        "Alice Martin",
        "Linden Lamps",
    ] {
        assert!(first.contains(expected), "{expected}: {first}");
    }
    assert!(
        !first.contains(ADMIN_TOKEN),
        "the admin token is never printed: {first}"
    );
    let second = serve_demo(&db, &log).await;
    assert!(
        second.contains("/signin/link/"),
        "new sign-in links on every start: {second}"
    );
    assert!(second.contains("seeded on an earlier start"), "{second}");
    assert!(!second.contains("API tokens (shown this once"), "{second}");

    // One demo store: started again to count its products.
    let log_text = std::fs::read_to_string(&log).expect("the log");
    assert!(log_text.contains("orderly is listening"), "{log_text}");
    assert!(
        !log_text.contains('\u{1b}'),
        "no colour codes in a log file: {log_text:?}"
    );
    let (mut child, url) = crate::support::start(&db).await;
    orderly_app::delivery::install_crypto_provider();
    let products: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/products?limit=100"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("json");
    let products = products["products"].as_array().expect("products");
    let sellers: std::collections::BTreeSet<&str> = products
        .iter()
        .map(|product| product["seller_id"].as_str().expect("seller"))
        .collect();
    assert_eq!((products.len(), sellers.len()), (4, 1), "{products:?}");
    child.kill().await.expect("stopped");
}

#[tokio::test]
async fn check_and_rebuild_refuse_a_database_that_is_not_there() {
    let scratch = Scratch::new("missing");
    let file = scratch.0.join("typo.db");
    let db = format!("sqlite://{}", file.display());
    for command in ["check", "rebuild-projections"] {
        let output = orderly()
            .args([command, "--db", &db])
            .output()
            .await
            .expect("runs");
        assert!(
            !output.status.success(),
            "{command} on a missing database fails"
        );
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            said.contains("there is no database at"),
            "{command}: {said}"
        );
        assert!(!file.exists(), "{command} created nothing");
    }
    // Once the database is there, both run and find it in order.
    let output = orderly()
        .args(["migrate", "--db", &db])
        .output()
        .await
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    for command in ["check", "rebuild-projections"] {
        let output = orderly()
            .args([command, "--db", &db])
            .output()
            .await
            .expect("runs");
        assert!(output.status.success(), "{command}: {output:?}");
    }
}

/// The HTTP benchmark's harness, briefly: it starts its own server process, plays the
/// story with keys, reads the server's CPU time and memory, and finds no errors. What it
/// measures is not checked here (benchmarks only); that it still runs is.
#[tokio::test]
async fn bench_http_plays_the_story_against_its_own_server_without_errors() {
    let output = orderly()
        .args(["bench", "http", "--clients", "2", "--seconds", "1"])
        .output()
        .await
        .expect("runs");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said}\n{output:?}");
    for line in [
        "GET /healthz (baseline):",
        "order commands (POST):",
        "request cancellation",
        "server peak RSS:",
    ] {
        assert!(said.contains(line), "{line}: {said}");
    }
    let commands = said
        .lines()
        .find(|line| line.contains("order commands (POST):"))
        .expect("the commands line");
    assert!(commands.contains("server CPU"), "{commands}");
    assert!(commands.trim_end().ends_with("errors 0"), "{commands}");
}
