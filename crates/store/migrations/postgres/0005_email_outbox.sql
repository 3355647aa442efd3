-- E-mail and the outbox that never drops a message: accounts get an optional address; an
-- outbox row remembers when it first failed (it is given up, `dead`, only after the
-- outbox's give-up window) and may be skipped by an admin, which lets the order's later
-- messages of the same topic go.

alter table accounts add column email text;
alter table outbox add column first_failed_at bigint;
alter table outbox add column skipped_at bigint;
create index outbox_by_status on outbox (topic, delivered_at, dead_at, skipped_at, id);
