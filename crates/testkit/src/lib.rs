//! Test support, used only as a dev-dependency: a database that exists for one test, on
//! SQLite always and on PostgreSQL when `ORDERLY_TEST_POSTGRES_URL` is set (CI sets it).
//! It knows database URLs, not orderly's types, so every crate's tests can use it.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A database created for one test and dropped by [`TestDb::drop_database`].
pub struct TestDb {
    /// The URL orderly connects to.
    pub url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A fresh SQLite file in the temp directory.
    pub fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!(
            "orderly-test-{}-{}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        Self {
            url: format!("sqlite://{}", path.display()),
            backend: "sqlite",
            cleanup: Cleanup::File(path),
        }
    }

    /// A fresh database on the server `admin_url` points at.
    pub async fn postgres(admin_url: &str) -> Self {
        let name = format!(
            "orderly_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("ORDERLY_TEST_POSTGRES_URL must reach a PostgreSQL server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("the URL names a database");
        Self {
            url: format!("{base}/{name}"),
            backend: "postgres",
            cleanup: Cleanup::Postgres {
                admin_url: admin_url.to_owned(),
                name,
            },
        }
    }

    /// Removes the file or drops the database.
    pub async fn drop_database(self) {
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("reach PostgreSQL to drop the test database");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .execute(&mut admin)
                .await
                .expect("drop the test database");
            }
        }
    }
}

/// The databases a test covers: SQLite always, PostgreSQL when configured.
pub async fn databases() -> Vec<TestDb> {
    let mut databases = vec![TestDb::sqlite()];
    if let Some(url) = postgres_url() {
        databases.push(TestDb::postgres(&url).await);
    }
    databases
}

/// `ORDERLY_TEST_POSTGRES_URL`, if set and not empty.
pub fn postgres_url() -> Option<String> {
    std::env::var("ORDERLY_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
}
