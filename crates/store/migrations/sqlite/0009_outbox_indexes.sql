-- Fewer B-trees for each outbox row a command writes (five before: the table, the unique
-- dedupe key, the pending, per-order and per-status indexes). The dedupe key is unique per
-- order, and that index also finds an order's messages; the per-status index, led by the
-- topic, serves the claims, the backlog and the purge. SQLite cannot drop a column's
-- unique constraint, so the table is rebuilt.

create table outbox_keyed (
    id integer primary key autoincrement,
    order_id text not null,
    topic text not null,
    dedupe_key text not null,
    payload text not null,
    attempts integer not null default 0,
    next_attempt_at integer not null,
    claimed_until integer not null default 0,
    delivered_at integer,
    dead_at integer,
    last_error text,
    created_at integer not null,
    updated_at integer not null,
    first_failed_at integer,
    skipped_at integer,
    constraint outbox_once_per_order unique (order_id, dedupe_key)
);
insert into outbox_keyed (id, order_id, topic, dedupe_key, payload, attempts, next_attempt_at,
    claimed_until, delivered_at, dead_at, last_error, created_at, updated_at, first_failed_at, skipped_at)
select id, order_id, topic, dedupe_key, payload, attempts, next_attempt_at,
    claimed_until, delivered_at, dead_at, last_error, created_at, updated_at, first_failed_at, skipped_at
from outbox;
-- Message ids are never reused (a dead message's queue item names its id): the new
-- table's sequence goes on from the old one's, rows deleted since included.
insert into sqlite_sequence (name, seq)
select 'outbox_keyed', seq from sqlite_sequence where name = 'outbox'
and not exists (select 1 from sqlite_sequence where name = 'outbox_keyed');
update sqlite_sequence set seq = max(seq, coalesce((select seq from sqlite_sequence where name = 'outbox'), 0))
where name = 'outbox_keyed';
drop table outbox;
alter table outbox_keyed rename to outbox;
create index outbox_by_status on outbox (topic, delivered_at, dead_at, skipped_at, id)
