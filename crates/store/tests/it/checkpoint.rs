//! SQLite's WAL checkpoints run beside the writer: committed pages reach the database file
//! itself without the writer stopping for them, long before the writer's own threshold.

use std::time::Duration;

use orderly_testkit::TestDb;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_copies_commits_into_the_database_file() {
    // Arrange: one order, a few pages in the log, far below the writer's threshold.
    let database = TestDb::sqlite();
    let store = open(&database).await;
    let order_id = new_order_id();
    place(&*store, order_id, BUYER, start()).await;
    // Act: wait for the checkpointer.
    let path = database
        .url
        .strip_prefix("sqlite://")
        .expect("a sqlite:// URL")
        .to_owned();
    let in_file = async {
        loop {
            if orders_in_file(&path).contains(&order_id.to_string()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // Assert: the database file alone (the log ignored) holds the order.
    tokio::time::timeout(Duration::from_secs(30), in_file)
        .await
        .expect("the order reaches the database file without a checkpoint by the writer");
    drop(store);
    database.drop_database().await;
}

/// The orders the database file holds, read as an immutable file: without its log. None
/// yet while the file does not hold the table (the schema may still be in the log) or is
/// being written.
fn orders_in_file(path: &str) -> Vec<String> {
    let read = || -> rusqlite::Result<Vec<String>> {
        let connection = rusqlite::Connection::open_with_flags(
            format!("file:{path}?immutable=1"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )?;
        let mut statement = connection.prepare("select id from orders")?;
        statement.query_map([], |row| row.get(0))?.collect()
    };
    read().unwrap_or_default()
}
