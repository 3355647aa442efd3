-- The support desk: the work queue, penalty points (automatic and by hand, revocable) and
-- evidence files. Queue items and automatic penalties are written in the same transaction
-- as the events that cause them; a repeated cause never makes a second row.

create table queue_items (
    id text primary key,
    kind text not null,
    order_id text not null references orders (id),
    seller_id text not null,
    reference text not null,
    summary text not null,
    status text not null check (status in ('open', 'done')),
    due_at bigint,
    assignee_id text,
    resolved_at bigint,
    resolved_by text,
    resolution_note text,
    created_at bigint not null,
    updated_at bigint not null,
    constraint queue_items_one_per_cause unique (order_id, kind, reference)
);
create index queue_items_by_due on queue_items (status, due_at, created_at, id);
create index queue_items_by_order on queue_items (order_id, kind, status);

create table penalties (
    id bigserial primary key,
    seller_id text not null,
    order_id text,
    event_seq bigint,
    points bigint not null check (points > 0),
    reason text not null,
    source text not null check (source in ('automatic', 'manual')),
    revoked_at bigint,
    revoked_by text,
    revoke_note text,
    created_at bigint not null,
    updated_at bigint not null,
    constraint penalties_one_per_event unique (order_id, event_seq)
);
create index penalties_by_seller on penalties (seller_id, created_at);

create table evidence_files (
    id text primary key,
    order_id text not null references orders (id),
    filename text not null,
    content_type text not null,
    size bigint not null check (size > 0),
    data bytea not null,
    uploaded_by text not null,
    created_at bigint not null
);
create index evidence_files_by_order on evidence_files (order_id, created_at);
