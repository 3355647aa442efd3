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
    Migration {
        version: 10,
        name: "unpaid_orders_index",
        sql: include_str!("../migrations/sqlite/0010_unpaid_orders_index.sql"),
    },
    Migration {
        version: 11,
        name: "events_per_command",
        sql: include_str!("../migrations/sqlite/0011_events_per_command.sql"),
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
    Migration {
        version: 10,
        name: "unpaid_orders_index",
        sql: include_str!("../migrations/postgres/0010_unpaid_orders_index.sql"),
    },
    Migration {
        version: 11,
        name: "events_per_command",
        sql: include_str!("../migrations/postgres/0011_events_per_command.sql"),
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

#[cfg(test)]
mod tests {
    use super::{SQLITE, statements};

    fn apply(connection: &rusqlite::Connection, migrations: &[super::Migration]) {
        for migration in migrations {
            for statement in statements(migration.sql) {
                connection
                    .execute_batch(&statement)
                    .unwrap_or_else(|error| panic!("migration {}: {error}", migration.version));
            }
        }
    }

    fn insert_message(connection: &rusqlite::Connection, order: &str) -> i64 {
        connection
            .query_row(
                "insert into outbox (order_id, topic, dedupe_key, payload, next_attempt_at, created_at, updated_at) \
                 values (?1, 'webhook', 'event:' || ?1 || ':1', '{}', 0, 0, 0) returning id",
                [order],
                |row| row.get(0),
            )
            .expect("insert an outbox message")
    }

    #[test]
    fn rebuilding_the_outbox_keeps_its_messages_and_never_reuses_an_id() {
        // Arrange: the schema before migration 9, three messages, the newest deleted
        // (purged), as a dead message's queue item may still name it.
        let connection = rusqlite::Connection::open_in_memory().expect("open");
        let rebuild = SQLITE
            .iter()
            .position(|migration| migration.name == "outbox_indexes")
            .expect("the outbox's rebuild is a migration");
        apply(&connection, &SQLITE[..rebuild]);
        let kept = [
            insert_message(&connection, "o1"),
            insert_message(&connection, "o2"),
        ];
        let purged = insert_message(&connection, "o3");
        connection
            .execute("delete from outbox where id = ?1", [purged])
            .expect("purge");
        // Act: the rebuild, then a new message.
        apply(&connection, &SQLITE[rebuild..=rebuild]);
        let next = insert_message(&connection, "o4");
        // Assert: the old messages with their ids, and a new id past every one used.
        let ids: Vec<i64> = connection
            .prepare("select id from outbox where order_id in ('o1', 'o2') order by id")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("ids");
        assert_eq!(ids, kept);
        assert!(
            next > purged,
            "new message {next} must not reuse purged id {purged}"
        );
    }

    #[test]
    fn the_events_of_one_row_each_become_rows_of_one_event() {
        // Arrange: the schema before migration 11, an order's two events as rows of their
        // own, as the versions before it wrote them.
        let connection = rusqlite::Connection::open_in_memory().expect("open");
        let per_command = SQLITE
            .iter()
            .position(|migration| migration.name == "events_per_command")
            .expect("events per command is a migration");
        apply(&connection, &SQLITE[..per_command]);
        let at = jiff::Timestamp::from_second(1_800_000_000).expect("a time");
        let events = [
            orderly_domain::EventKind::PaymentVerified,
            orderly_domain::EventKind::DeadlineCleared {
                deadline: orderly_domain::DeadlineKind::PaymentVerification,
            },
        ]
        .map(|kind| orderly_domain::Event {
            at,
            actor: orderly_domain::Actor::System,
            kind,
        });
        connection
            .execute_batch(
                "insert into orders (id, buyer_id, seller_id, status, frozen, currency, total_minor, \
                 captured_minor, held_minor, released_minor, refunded_minor, version, placed_at, state, \
                 created_at, updated_at) values ('o1', 'b', 's', 'paid', 0, 'EUR', 0, 0, 0, 0, 0, 2, 0, '{}', 0, 0)",
            )
            .expect("an order");
        for (index, event) in events.iter().enumerate() {
            connection
                .execute(
                    "insert into events (order_id, seq, at, kind, body, created_at) values ('o1', ?1, 0, ?2, ?3, 0)",
                    rusqlite::params![
                        index as i64 + 1,
                        event.kind.name(),
                        serde_json::to_string(event).expect("an event as JSON")
                    ],
                )
                .expect("an event row");
        }
        // Act
        apply(&connection, &SQLITE[per_command..=per_command]);
        // Assert: each row an array of its one event, numbered as before.
        let rows: Vec<(i64, i64, String, String)> = connection
            .prepare(
                "select seq, last_seq, kinds, body from events where order_id = 'o1' order by seq",
            )
            .expect("prepare")
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let mut read = Vec::new();
        for (seq, last_seq, kinds, body) in &rows {
            assert_eq!(seq, last_seq);
            assert_eq!(*kinds, events[*seq as usize - 1].kind.name());
            read.extend(crate::projection::stored_events(*seq, *last_seq, body).expect("decodes"));
        }
        let read: Vec<(u64, orderly_domain::Event)> = read
            .into_iter()
            .map(|stored| (stored.seq, stored.event))
            .collect();
        assert_eq!(read, vec![(1, events[0].clone()), (2, events[1].clone())]);
    }
}
