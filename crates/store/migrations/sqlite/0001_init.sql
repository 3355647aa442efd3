-- orderly's first schema (SQLite). Forward-only: never edit after release; add a new file.
-- Times are integer microseconds since the Unix epoch (UTC). Money is integer minor units.

create table orders (
    id text primary key,
    buyer_id text not null,
    seller_id text not null,
    status text not null,
    frozen integer not null,
    currency text not null,
    total_minor integer not null,
    captured_minor integer not null,
    held_minor integer not null,
    released_minor integer not null,
    refunded_minor integer not null,
    version integer not null,
    placed_at integer not null,
    state text not null,
    created_at integer not null,
    updated_at integer not null,
    constraint orders_money_conserved
        check (captured_minor = held_minor + released_minor + refunded_minor),
    constraint orders_refunds_within_payment
        check (refunded_minor <= captured_minor and captured_minor <= total_minor),
    constraint orders_escrow_not_negative
        check (held_minor >= 0 and released_minor >= 0 and refunded_minor >= 0)
);
create index orders_by_buyer on orders (buyer_id, placed_at desc, id desc);
create index orders_by_seller on orders (seller_id, placed_at desc, id desc);
create index orders_by_time on orders (placed_at desc, id desc);

create table events (
    order_id text not null references orders (id),
    seq integer not null,
    at integer not null,
    kind text not null,
    body text not null,
    created_at integer not null,
    primary key (order_id, seq)
);

create table deadlines (
    order_id text not null references orders (id),
    kind text not null,
    due_at integer not null,
    paused integer not null,
    claimed_until integer not null default 0,
    created_at integer not null,
    updated_at integer not null,
    primary key (order_id, kind)
);
create index deadlines_due on deadlines (paused, due_at);

create table refunds (
    order_id text not null references orders (id),
    number integer not null,
    amount_minor integer not null check (amount_minor > 0),
    destination text not null,
    sent_at integer not null,
    expected_by integer not null,
    overdue_at integer,
    flagged_overdue integer not null,
    created_at integer not null,
    updated_at integer not null,
    primary key (order_id, number)
);

create table ledger_entries (
    order_id text not null references orders (id),
    position integer not null,
    at integer not null,
    debit_account text not null,
    credit_account text not null,
    amount_minor integer not null check (amount_minor > 0),
    created_at integer not null,
    primary key (order_id, position)
);

create table seller_metrics_daily (
    seller_id text not null,
    day text not null,
    orders integer not null,
    paid_orders integer not null,
    completed_orders integer not null,
    seller_fault_cancellations integer not null,
    cancellation_requests integer not null,
    requests_answered integer not null,
    requests_unanswered integer not null,
    response_secs_total integer not null,
    shipments integer not null,
    shipments_on_time integer not null,
    disputes_opened integer not null,
    disputes_lost integer not null,
    penalty_points integer not null,
    created_at integer not null,
    updated_at integer not null,
    primary key (seller_id, day)
);

create table outbox (
    id integer primary key autoincrement,
    order_id text not null,
    topic text not null,
    dedupe_key text not null unique,
    payload text not null,
    attempts integer not null default 0,
    next_attempt_at integer not null,
    claimed_until integer not null default 0,
    delivered_at integer,
    dead_at integer,
    last_error text,
    created_at integer not null,
    updated_at integer not null
);
create index outbox_pending on outbox (delivered_at, dead_at, next_attempt_at);
create index outbox_by_order on outbox (order_id, id);

create table idempotency_keys (
    account_id text not null,
    key text not null,
    fingerprint text not null,
    status integer,
    response text,
    created_at integer not null,
    updated_at integer not null,
    primary key (account_id, key)
);
create index idempotency_keys_by_age on idempotency_keys (created_at);
