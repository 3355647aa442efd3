-- orderly's first schema (PostgreSQL). Forward-only: never edit after release; add a new file.
-- Times are bigint microseconds since the Unix epoch (UTC). Money is bigint minor units.

create table orders (
    id text primary key,
    buyer_id text not null,
    seller_id text not null,
    status text not null,
    frozen bigint not null,
    currency text not null,
    total_minor bigint not null,
    captured_minor bigint not null,
    held_minor bigint not null,
    released_minor bigint not null,
    refunded_minor bigint not null,
    version bigint not null,
    placed_at bigint not null,
    state text not null,
    created_at bigint not null,
    updated_at bigint not null,
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
    seq bigint not null,
    at bigint not null,
    kind text not null,
    body text not null,
    created_at bigint not null,
    primary key (order_id, seq)
);

create table deadlines (
    order_id text not null references orders (id),
    kind text not null,
    due_at bigint not null,
    paused bigint not null,
    claimed_until bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (order_id, kind)
);
create index deadlines_due on deadlines (paused, due_at);

create table refunds (
    order_id text not null references orders (id),
    number bigint not null,
    amount_minor bigint not null check (amount_minor > 0),
    destination text not null,
    sent_at bigint not null,
    expected_by bigint not null,
    overdue_at bigint,
    flagged_overdue bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (order_id, number)
);

create table ledger_entries (
    order_id text not null references orders (id),
    position bigint not null,
    at bigint not null,
    debit_account text not null,
    credit_account text not null,
    amount_minor bigint not null check (amount_minor > 0),
    created_at bigint not null,
    primary key (order_id, position)
);

create table seller_metrics_daily (
    seller_id text not null,
    day text not null,
    orders bigint not null,
    paid_orders bigint not null,
    completed_orders bigint not null,
    seller_fault_cancellations bigint not null,
    cancellation_requests bigint not null,
    requests_answered bigint not null,
    requests_unanswered bigint not null,
    response_secs_total bigint not null,
    shipments bigint not null,
    shipments_on_time bigint not null,
    disputes_opened bigint not null,
    disputes_lost bigint not null,
    penalty_points bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (seller_id, day)
);

create table outbox (
    id bigserial primary key,
    order_id text not null,
    topic text not null,
    dedupe_key text not null unique,
    payload text not null,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    claimed_until bigint not null default 0,
    delivered_at bigint,
    dead_at bigint,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null
);
create index outbox_pending on outbox (delivered_at, dead_at, next_attempt_at);
create index outbox_by_order on outbox (order_id, id);

create table idempotency_keys (
    account_id text not null,
    key text not null,
    fingerprint text not null,
    status bigint,
    response text,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (account_id, key)
);
create index idempotency_keys_by_age on idempotency_keys (created_at);
