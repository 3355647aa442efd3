-- A seller's day of metrics may be spread over shards, as on PostgreSQL (where parallel
-- commands of a busy seller would otherwise wait on one row); SQLite has one writer and
-- keeps every row in shard 0. Readers sum the shards.

create table seller_metrics_sharded (
    seller_id text not null,
    day text not null,
    shard integer not null default 0,
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
    primary key (seller_id, day, shard)
);
insert into seller_metrics_sharded (seller_id, day, shard, orders, paid_orders, completed_orders,
    seller_fault_cancellations, cancellation_requests, requests_answered, requests_unanswered,
    response_secs_total, shipments, shipments_on_time, disputes_opened, disputes_lost, penalty_points,
    created_at, updated_at)
select seller_id, day, 0, orders, paid_orders, completed_orders,
    seller_fault_cancellations, cancellation_requests, requests_answered, requests_unanswered,
    response_secs_total, shipments, shipments_on_time, disputes_opened, disputes_lost, penalty_points,
    created_at, updated_at
from seller_metrics_daily;
drop table seller_metrics_daily;
alter table seller_metrics_sharded rename to seller_metrics_daily
