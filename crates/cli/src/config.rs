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
    pub sqlite: SqliteConfig,
    pub log: LogConfig,
    pub webhooks: WebhookConfig,
    /// The marketplace's policy (SPEC 12): deadline lengths and the rules the seeds
    /// disagree on. Missing keys keep their defaults.
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
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// `FULL` (default: every commit survives a power cut) or `NORMAL`.
    pub synchronous: String,
    pub busy_timeout_ms: u64,
}

/// Where every domain event is POSTed, signed (SPEC 10). Off while `url` is empty.
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
            sqlite: SqliteConfig::default(),
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
        }
    }
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            synchronous: "FULL".into(),
            busy_timeout_ms: 5_000,
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
        Ok(config)
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

[sqlite]
# FULL: every acknowledged command survives a power cut. NORMAL: faster, may lose the last
# commits on power loss (never on a process crash).
synchronous = "FULL"
busy_timeout_ms = 5000

[log]
# text or json
format = "text"
filter = "info"

[webhooks]
# Every domain event is POSTed here, signed with `secret` (header Orderly-Signature:
# t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">), at least once, in order per
# order, retried with backoff. Empty: webhooks stay in the outbox until a URL is set.
url = ""
secret = ""

[policy]
# SPEC 12. Windows are "Nh" (hours), "Nd" (days) or "Nbd" (business days).
payment_window = "20d"                 # [004]; "7d" in [002]
payment_verification = "2h"            # simulated provider
seller_response_window = "72h"         # [001]; "14d" in [002]
default_handling_days = 7              # products without their own processing time
no_tracking_dispute_after = "6d"       # [004]
buyer_protection = "60d"
receipt_confirmation = "15d"
claim_response_window = "5d"
negotiation_window = "15d"
return_shipment_window = "10d"
return_confirmation_window = "15d"
refused_delivery_return_window = "15d"
refund_overdue_after = "10bd"          # [004]
cancel_before_verification = true      # [003]; false as in [004]
cancel_request_window = "until_shipped"  # or "one_day_after_payment" [004]
refund_shipping_after_shipment = false # [000]
# statutory_withdrawal_days = 7        # consumer law quoted in [004]; off by default
# holidays = ["2026-12-25"]            # not business days
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
