-- Carriers and payment providers (SPEC 16.6): registered integrations whose secrets are
-- never stored (each is derived from the signing key, the integration's id and its secret
-- version, so rotating is a new version and the old one stays valid for a grace period);
-- the shipments by carrier and tracking number, so a scan finds its order; and the
-- service's own settings (the signing key when the operator did not configure one).

create table integrations (
    id text primary key,
    kind text not null check (kind in ('carrier', 'payment')),
    name text not null,
    secret_version bigint not null,
    previous_version bigint,
    previous_valid_until bigint,
    revoked_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);

create table shipments (
    order_id text primary key references orders (id),
    carrier_key text not null,
    tracking_number text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index shipments_by_tracking on shipments (carrier_key, tracking_number);

create table settings (
    key text primary key,
    value text not null,
    created_at bigint not null
);
