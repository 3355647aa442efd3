//! Configuration, in layers: defaults, then an optional TOML file, then environment
//! variables `ORDERLY__SECTION__KEY`, then command-line flags. Parsed once here and passed
//! down; libraries never read the environment.

use std::fmt;

use orderly_domain::Policy;
use serde::{Deserialize, Serialize};

/// Everything `orderly serve` can be told.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub sqlite: SqliteConfig,
    pub metrics: MetricsConfig,
    pub email: EmailConfig,
    pub outbox: OutboxConfig,
    pub integrations: IntegrationsConfig,
    pub log: LogConfig,
    pub webhooks: WebhookConfig,
    /// The marketplace's policy: deadline lengths and the rules marketplaces differ on.
    /// Missing keys keep their defaults.
    pub policy: toml::Table,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `sqlite://PATH` or `postgres://user:password@host/db`.
    pub db: String,
    /// Where to listen; port 0 picks a free port.
    pub listen: String,
    /// Requests per account per minute before 429; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// Longest sleep of the deadline worker between checks, in seconds.
    pub deadline_poll_secs: u64,
    /// Failed sign-ins (missing or unknown token) per client address per minute before
    /// 429; 0 turns the limit off.
    pub failed_sign_ins_per_minute: u32,
    /// The longest one request may take before it is answered 503, in seconds.
    pub request_timeout_secs: u64,
    /// The longest a client may take to send its request headers, in seconds.
    pub header_read_timeout_secs: u64,
    /// The address people reach the service at, the base of links in e-mails, e.g.
    /// `https://orders.example.com`; the listening address when empty.
    pub public_url: String,
}

/// E-mail. Without `smtp_url`, e-mails wait in the outbox and are sent once it
/// is set.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `smtp://host:port` or `smtps://host:port`, with optional `user:password@`; set it
    /// through ORDERLY__EMAIL__SMTP_URL when it holds a password.
    pub smtp_url: String,
    /// The From address.
    pub from: String,
}

/// Carriers and payment providers.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrationsConfig {
    /// The key every integration's secret is derived from (no secret is stored); set it
    /// through ORDERLY__INTEGRATIONS__SIGNING_KEY. Empty: a random key kept in the
    /// database, so anyone who reads the database could sign callbacks.
    pub signing_key: String,
}

/// The outbox: e-mails and webhooks waiting to go.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// How long a failing message keeps being retried before it is `dead`: "3d", "12h".
    pub give_up_after: String,
    /// How long delivered messages are kept.
    pub keep_delivered: String,
}

/// Bounded waits on the database, so that a database that cannot be reached answers 503
/// within a second instead of hanging requests.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// How long a request waits for a connection (including opening one).
    pub acquire_timeout_ms: u64,
    /// PostgreSQL `statement_timeout`.
    pub statement_timeout_ms: u64,
    /// PostgreSQL `lock_timeout`.
    pub lock_timeout_ms: u64,
}

/// Who may read `/metrics`.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`; set it through
    /// ORDERLY__METRICS__TOKEN.
    pub token: String,
    /// When set, `/metrics` is served on this address only (e.g. an internal interface),
    /// and not on the API's.
    pub listen: String,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// `FULL` (default: every commit survives a power cut) or `NORMAL`.
    pub synchronous: String,
    pub busy_timeout_ms: u64,
    /// How long a command may wait for the single writer before it is answered 503.
    pub write_queue_timeout_ms: u64,
}

/// Where every domain event is POSTed, signed. Off while `url` is empty.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    pub url: String,
    /// Signs each delivery (HMAC-SHA256); set it through ORDERLY__WEBHOOKS__SECRET.
    pub secret: String,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `orderly=debug,info`.
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            sqlite: SqliteConfig::default(),
            metrics: MetricsConfig::default(),
            email: EmailConfig::default(),
            outbox: OutboxConfig::default(),
            integrations: IntegrationsConfig::default(),
            log: LogConfig::default(),
            webhooks: WebhookConfig::default(),
            policy: toml::Table::new(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            db: "sqlite://orderly.db".into(),
            listen: "127.0.0.1:8080".into(),
            rate_limit_per_minute: 6_000,
            deadline_poll_secs: 5,
            failed_sign_ins_per_minute: 30,
            request_timeout_secs: 10,
            header_read_timeout_secs: 10,
            public_url: String::new(),
        }
    }
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            from: "orderly <orderly@localhost>".into(),
        }
    }
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            give_up_after: "3d".into(),
            keep_delivered: "7d".into(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        let store = orderly_store::StoreOptions::default();
        Self {
            acquire_timeout_ms: store.acquire_timeout_ms,
            statement_timeout_ms: store.statement_timeout_ms,
            lock_timeout_ms: store.lock_timeout_ms,
        }
    }
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            synchronous: "FULL".into(),
            busy_timeout_ms: orderly_store::StoreOptions::default().busy_timeout_ms,
            write_queue_timeout_ms: orderly_store::StoreOptions::default().write_queue_timeout_ms,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

/// Database URLs carry passwords: `Debug` shows them redacted.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("db", &orderly_store::redact_url(&self.server.db))
            .field("listen", &self.server.listen)
            .field("rate_limit_per_minute", &self.server.rate_limit_per_minute)
            .field("sqlite_synchronous", &self.sqlite.synchronous)
            .field("log_format", &self.log.format)
            .field("webhook_url", &self.webhooks.url)
            .field("metrics_listen", &self.metrics.listen)
            .field("smtp_url", &orderly_store::redact_url(&self.email.smtp_url))
            .field("public_url", &self.server.public_url)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults, then `file` (if given), then `ORDERLY__SECTION__KEY` variables from `env`.
    pub fn load(
        file: Option<&str>,
        env: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut table = toml::Table::try_from(Config::default())?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|error| anyhow::anyhow!("cannot read the config file {path}: {error}"))?;
            let from_file: toml::Table = toml::from_str(&text)
                .map_err(|error| anyhow::anyhow!("config file {path}: {error}"))?;
            merge(&mut table, from_file);
        }
        for (name, value) in env {
            let Some(path) = name.strip_prefix("ORDERLY__") else {
                continue;
            };
            let keys: Vec<String> = path
                .split("__")
                .map(|key| key.to_ascii_lowercase())
                .collect();
            set(&mut table, &keys, parse_env_value(&value))
                .map_err(|error| anyhow::anyhow!("environment variable {name}: {error}"))?;
        }
        let config: Config = table.try_into().map_err(|error: toml::de::Error| {
            anyhow::anyhow!("configuration: {}", error.message())
        })?;
        config.policy()?;
        config.outbox_settings()?;
        Ok(config)
    }

    /// How the store waits, from `[database]` and `[sqlite]`.
    pub fn store_options(&self) -> orderly_store::StoreOptions {
        orderly_store::StoreOptions {
            synchronous: self.sqlite.synchronous.clone(),
            busy_timeout_ms: self.sqlite.busy_timeout_ms,
            acquire_timeout_ms: self.database.acquire_timeout_ms,
            statement_timeout_ms: self.database.statement_timeout_ms,
            lock_timeout_ms: self.database.lock_timeout_ms,
            write_queue_timeout_ms: self.sqlite.write_queue_timeout_ms,
        }
    }

    /// The outbox's windows, from `[outbox]`, checked.
    pub fn outbox_settings(&self) -> anyhow::Result<orderly_app::delivery::OutboxSettings> {
        let parse = |key: &str, text: &str| -> anyhow::Result<jiff::SignedDuration> {
            let window: orderly_domain::Window = text
                .parse()
                .map_err(|error: String| anyhow::anyhow!("[outbox] {key}: {error}"))?;
            window
                .duration()
                .ok_or_else(|| anyhow::anyhow!("[outbox] {key}: use hours or days, e.g. \"3d\""))
        };
        Ok(orderly_app::delivery::OutboxSettings {
            give_up_after: parse("give_up_after", &self.outbox.give_up_after)?,
            keep_delivered: parse("keep_delivered", &self.outbox.keep_delivered)?,
        })
    }

    /// How the HTTP server guards itself, from `[server]` and `[metrics]`.
    pub fn server_options(&self) -> orderly_server::ServerOptions {
        orderly_server::ServerOptions {
            rate_limit_per_minute: self.server.rate_limit_per_minute,
            failed_sign_ins_per_minute: self.server.failed_sign_ins_per_minute,
            request_timeout: std::time::Duration::from_secs(
                self.server.request_timeout_secs.max(1),
            ),
            header_read_timeout: std::time::Duration::from_secs(
                self.server.header_read_timeout_secs.max(1),
            ),
            metrics_token: (!self.metrics.token.is_empty()).then(|| self.metrics.token.clone()),
            metrics_on_api: self.metrics.listen.is_empty(),
        }
    }

    /// The policy, validated with a clear error naming the key.
    pub fn policy(&self) -> anyhow::Result<Policy> {
        let text = toml::to_string(&self.policy)?;
        Policy::from_toml_str(&text)
            .map_err(|error| anyhow::anyhow!("{error} (in the [policy] section)"))
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(table)) => {
                merge(existing, table)
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn set(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    match keys {
        [] => Err("no key after ORDERLY__".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set(inner, rest, value),
                _ => Err(format!("`{first}` is not a section")),
            }
        }
    }
}

/// Numbers and booleans keep their type; everything else is a string.
fn parse_env_value(text: &str) -> toml::Value {
    if let Ok(number) = text.parse::<i64>() {
        return toml::Value::Integer(number);
    }
    match text {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(text.to_owned()),
    }
}

/// The commented example `print-config` prints; a test checks that it parses.
pub const EXAMPLE: &str = r#"# orderly configuration. Every key is optional; shown with its default.
# Environment variables override the file: ORDERLY__SERVER__DB, ORDERLY__POLICY__PAYMENT_WINDOW, ...

[server]
# sqlite://PATH (embedded, the default) or postgres://user:password@host:5432/db
db = "sqlite://orderly.db"
# Port 0 picks a free port.
listen = "127.0.0.1:8080"
# Requests per account per minute before 429 Too Many Requests; 0 turns the limit off.
rate_limit_per_minute = 6000
# Longest sleep of the deadline worker between checks, in seconds.
deadline_poll_secs = 5
# Failed sign-ins (missing or unknown token) per client address per minute before 429.
failed_sign_ins_per_minute = 30
# A request still running after this many seconds is stopped and answered 503.
request_timeout_secs = 10
# A client that has not sent its request headers after this many seconds is cut off.
header_read_timeout_secs = 10
# Where people reach this service: the base of the links in e-mails. Empty: the
# listening address, e.g. http://127.0.0.1:8080.
public_url = ""

[database]
# Every wait on the database is bounded, so an unreachable database answers 503 fast.
# How long a request waits for a connection, including opening one, in milliseconds.
acquire_timeout_ms = 750
# PostgreSQL only: the longest one statement may run, and may wait for a row lock.
statement_timeout_ms = 5000
lock_timeout_ms = 2000

[sqlite]
# FULL: every acknowledged command survives a power cut. NORMAL: faster, may lose the last
# commits on power loss (never on a process crash).
synchronous = "FULL"
busy_timeout_ms = 1000
# A command that cannot start within this many milliseconds is answered 503, not run.
write_queue_timeout_ms = 1000

[metrics]
# Prometheus metrics at /metrics. With a token, only `Authorization: Bearer <token>` may
# read them (set it through ORDERLY__METRICS__TOKEN); with listen, they are served on that
# address only, e.g. "10.0.0.5:9100", and not on the API's.
token = ""
listen = ""

[log]
# text or json
format = "text"
filter = "info"

[email]
# Every notification of the order's story is e-mailed through this SMTP server:
# smtp://host:port (plain), smtps://host:port (TLS), with optional user:password@ (set it
# through ORDERLY__EMAIL__SMTP_URL). Empty: e-mails wait in the outbox until it is set.
# To see them locally: python3 -m aiosmtpd -n -l 127.0.0.1:2525 (prints each e-mail).
smtp_url = ""
from = "orderly <orderly@localhost>"

[outbox]
# A webhook or e-mail that keeps failing is retried (back-off capped at 1 hour) for this
# long, then marked dead: kept, listed at /api/v1/admin/outbox, and re-sendable.
give_up_after = "3d"
# Delivered messages are deleted after this long.
keep_delivered = "7d"

[integrations]
# Carriers and payment providers sign their callbacks with secrets derived from this key
# (none is stored). Set it through ORDERLY__INTEGRATIONS__SIGNING_KEY, 32+ random
# characters. Empty: a random key kept in the database.
signing_key = ""

[webhooks]
# Every domain event is POSTed here, signed with `secret` (header Orderly-Signature:
# t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">), at least once, in order per
# order, retried with backoff. Empty: webhooks stay in the outbox until a URL is set.
url = ""
secret = ""

[policy]
# The marketplace's rules (docs/rules.md, section 13). Windows are "Nh" (hours), "Nd"
# (days) or "Nbd" (business days). `orderly policy` prints the policy in force.
payment_window = "20d"                 # to pay after placing; some marketplaces give 7d
payment_verification = "2h"            # simulated approval after 2h; "manual": support verifies each payment; "provider": the payment provider's callback
seller_response_window = "72h"         # to answer a cancellation request before it is approved; some give 14d
default_handling_days = 7              # products without their own processing time
no_tracking_dispute_after = "6d"       # after shipment, from when a buyer may open a "no tracking information" dispute
buyer_protection = "60d"
receipt_confirmation = "15d"
claim_response_window = "5d"
negotiation_window = "15d"
return_shipment_window = "10d"
return_confirmation_window = "15d"
refused_delivery_return_window = "15d"
refund_overdue_after = "10bd"          # a refund not reported arrived by then is flagged to support
cancel_before_verification = true      # the buyer may cancel at once while the payment is verified; false: a request
cancel_request_window = "until_shipped"  # or "one_day_after_payment": requests only in the first day
refund_shipping_after_shipment = false # after shipment, refunds cover the items, not the shipping
# statutory_withdrawal_days = 7        # a legal right to return within N days of delivery; off by default
# holidays = ["2026-12-25"]            # not business days
messages_per_order_max = 500           # a longer thread is refused; the parties contact support
unpaid_orders_per_buyer_max = 10       # placing more unpaid orders is refused (stock hoarding)
support_response_window = "24h"        # when a support-queue item without a deadline of its own is due
# Reminders: how long before a deadline the person it waits on is e-mailed ("Nh" or "Nd").
reminder_before_seller_response = "24h"
reminder_before_claim_response = "24h"
reminder_before_handling_time = "24h"
reminder_before_receipt_confirmation = "48h"
reminder_before_buyer_protection = "48h"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_example_parses_to_the_defaults() {
        let path = std::env::temp_dir().join(format!("orderly-config-{}.toml", std::process::id()));
        std::fs::write(&path, EXAMPLE).expect("write");
        let config = Config::load(path.to_str(), std::iter::empty()).expect("the example parses");
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(config.server.db, "sqlite://orderly.db");
        assert_eq!(config.policy().expect("valid policy"), Policy::default());
    }

    #[test]
    fn environment_variables_override_the_file() {
        let env = [
            (
                "ORDERLY__SERVER__LISTEN".to_owned(),
                "0.0.0.0:9000".to_owned(),
            ),
            (
                "ORDERLY__SERVER__RATE_LIMIT_PER_MINUTE".to_owned(),
                "10".to_owned(),
            ),
            (
                "ORDERLY__POLICY__PAYMENT_WINDOW".to_owned(),
                "7d".to_owned(),
            ),
            ("OTHER".to_owned(), "ignored".to_owned()),
        ];
        let config = Config::load(None, env.into_iter()).expect("valid");
        assert_eq!(config.server.listen, "0.0.0.0:9000");
        assert_eq!(config.server.rate_limit_per_minute, 10);
        assert_eq!(
            config.policy().expect("valid").payment_window,
            orderly_domain::Window::Days(7)
        );
    }

    #[test]
    fn a_bad_policy_names_its_key() {
        let env = [(
            "ORDERLY__POLICY__PAYMENT_WINDOW".to_owned(),
            "soon".to_owned(),
        )];
        let error = Config::load(None, env.into_iter()).expect_err("invalid");
        assert!(error.to_string().contains("payment_window"), "{error}");
    }

    #[test]
    fn debug_output_hides_database_passwords() {
        let mut config = Config::default();
        config.server.db = "postgres://orderly:hunter2@db/orderly".into();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
