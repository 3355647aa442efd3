//! Embedded, forward-only migrations: one ordered list per backend, applied in order, each
//! in its own transaction, recorded in `schema_migrations`. A migration is never edited
//! after release; a change is a new file.

/// One migration: its version, a name, and its SQL (statements separated by `;`).
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "accounts_products",
        sql: include_str!("../migrations/sqlite/0002_accounts_products.sql"),
    },
    Migration {
        version: 3,
        name: "hardening",
        sql: include_str!("../migrations/sqlite/0003_hardening.sql"),
    },
    Migration {
        version: 4,
        name: "support_desk",
        sql: include_str!("../migrations/sqlite/0004_support_desk.sql"),
    },
    Migration {
        version: 5,
        name: "email_outbox",
        sql: include_str!("../migrations/sqlite/0005_email_outbox.sql"),
    },
    Migration {
        version: 6,
        name: "integrations",
        sql: include_str!("../migrations/sqlite/0006_integrations.sql"),
    },
    Migration {
        version: 7,
        name: "web",
        sql: include_str!("../migrations/sqlite/0007_web.sql"),
    },
    Migration {
        version: 8,
        name: "metric_shards",
        sql: include_str!("../migrations/sqlite/0008_metric_shards.sql"),
    },
    Migration {
        version: 9,
        name: "outbox_indexes",
        sql: include_str!("../migrations/sqlite/0009_outbox_indexes.sql"),
    },
];

pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "accounts_products",
        sql: include_str!("../migrations/postgres/0002_accounts_products.sql"),
    },
    Migration {
        version: 3,
        name: "hardening",
        sql: include_str!("../migrations/postgres/0003_hardening.sql"),
    },
    Migration {
        version: 4,
        name: "support_desk",
        sql: include_str!("../migrations/postgres/0004_support_desk.sql"),
    },
    Migration {
        version: 5,
        name: "email_outbox",
        sql: include_str!("../migrations/postgres/0005_email_outbox.sql"),
    },
    Migration {
        version: 6,
        name: "integrations",
        sql: include_str!("../migrations/postgres/0006_integrations.sql"),
    },
    Migration {
        version: 7,
        name: "web",
        sql: include_str!("../migrations/postgres/0007_web.sql"),
    },
    Migration {
        version: 8,
        name: "metric_shards",
        sql: include_str!("../migrations/postgres/0008_metric_shards.sql"),
    },
    Migration {
        version: 9,
        name: "outbox_indexes",
        sql: include_str!("../migrations/postgres/0009_outbox_indexes.sql"),
    },
];

/// The statements of a migration file, without comments and blank ones.
pub fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
}
