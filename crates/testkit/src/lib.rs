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

/// A real SMTP server for a test: `scripts/testing/smtp_server.py` (aiosmtpd) on a free
/// port, writing what it accepts into a Maildir the test reads. Recipients at
/// `refused.test` are refused for good (550). Killed on drop.
pub struct SmtpServer {
    pub port: u16,
    pub maildir: std::path::PathBuf,
    child: std::sync::Mutex<Option<std::process::Child>>,
}

/// One e-mail as the SMTP server received it.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The envelope recipients.
    pub to: String,
    pub subject: String,
    /// The whole message as received, headers and parts.
    pub raw: String,
}

impl ReceivedMail {
    /// The message with quoted-printable undone (soft line breaks joined, `=XX` decoded),
    /// for searching its text.
    pub fn text(&self) -> String {
        let joined = self.raw.replace("=\r\n", "").replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut index = 0;
        while index < bytes.len() {
            if bytes[index] == b'='
                && index + 2 < bytes.len()
                && let Ok(byte) = u8::from_str_radix(&joined[index + 1..index + 3], 16)
            {
                out.push(byte);
                index += 3;
                continue;
            }
            out.push(bytes[index]);
            index += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl SmtpServer {
    /// Starts the server (installing its Python tools on first use).
    pub fn start() -> Self {
        let maildir = std::env::temp_dir().join(format!(
            "orderly-maildir-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let (child, port) = spawn_smtp(&maildir, None);
        Self {
            port,
            maildir,
            child: std::sync::Mutex::new(Some(child)),
        }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server; connections are refused until `restart`.
    pub fn stop(&self) {
        let mut child = self
            .child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(mut child) = child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and Maildir.
    pub fn restart(&self) {
        self.stop();
        let (child, _) = spawn_smtp(&self.maildir, Some(self.port));
        *self
            .child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(child);
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let modified = entry
                    .metadata()
                    .and_then(|meta| meta.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                files.push((modified, entry.path()));
            }
        }
        // Maildir names begin with the delivery time and a sequence: sort by both.
        files.sort_by(|left, right| left.0.cmp(&right.0).then(left.1.cmp(&right.1)));
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .map(|raw| {
                let header = |name: &str| {
                    raw.lines()
                        .take_while(|line| !line.is_empty())
                        .find_map(|line| {
                            let (key, value) = line.split_once(':')?;
                            key.eq_ignore_ascii_case(name)
                                .then(|| value.trim().to_owned())
                        })
                        .unwrap_or_default()
                };
                ReceivedMail {
                    to: header("X-Envelope-To"),
                    subject: header("Subject"),
                    raw: raw.clone(),
                }
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository exists")
}

/// The Python of the test tools' venv, made by `scripts/contract/setup.sh` if missing.
fn test_python() -> std::path::PathBuf {
    let repository = repository();
    let python = repository.join("target/contract-venv/bin/python");
    let ready = std::process::Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !ready {
        let status = std::process::Command::new(repository.join("scripts/contract/setup.sh"))
            .status()
            .expect("scripts/contract/setup.sh runs");
        assert!(
            status.success(),
            "scripts/contract/setup.sh installs the test tools"
        );
    }
    python
}

fn spawn_smtp(maildir: &std::path::Path, port: Option<u16>) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let mut command = std::process::Command::new(test_python());
    command
        .arg(repository().join("scripts/testing/smtp_server.py"))
        .arg(maildir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(port) = port {
        command.arg(port.to_string());
    }
    let mut child = command.spawn().expect("the SMTP test server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the SMTP server prints its port");
    let port = line
        .trim()
        .strip_prefix("port ")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("the SMTP server said {line:?}"));
    (child, port)
}
