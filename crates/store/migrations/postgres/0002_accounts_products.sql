-- Accounts with their API token (stored only as a SHA-256 hash) and the sellers' catalogue.

create table accounts (
    id text primary key,
    role text not null check (role in ('buyer', 'seller', 'admin')),
    name text not null,
    token_hash text not null unique,
    revoked_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);

create table products (
    id text primary key,
    seller_id text not null references accounts (id),
    title text not null,
    currency text not null,
    price_minor bigint not null check (price_minor >= 0),
    shipping_fee_minor bigint not null check (shipping_fee_minor >= 0),
    stock bigint not null,
    processing_days bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    constraint products_stock_not_negative check (stock >= 0)
);
create index products_by_seller on products (seller_id, created_at);
