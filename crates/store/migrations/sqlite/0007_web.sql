-- The web pages (SPEC 16.5): sessions and one-time sign-in links. Neither the session id
-- nor the link's token is stored, only their SHA-256; a session carries its CSRF token.

create table sessions (
    id_hash text primary key,
    account_id text not null references accounts (id),
    csrf text not null,
    created_at integer not null,
    expires_at integer not null
);
create index sessions_by_expiry on sessions (expires_at);

create table signin_links (
    token_hash text primary key,
    account_id text not null references accounts (id),
    return_to text,
    expires_at integer not null,
    used_at integer,
    created_at integer not null
);
create index signin_links_by_expiry on signin_links (expires_at);
