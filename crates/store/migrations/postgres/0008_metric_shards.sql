-- A seller's day of metrics is spread over shards (the seller's figures are their sums): on
-- PostgreSQL commands run in parallel, and with one row per seller and day every command
-- of a busy seller waited for the previous one's commit to update it. A row's shard comes
-- from its order's id; readers sum the shards.

alter table seller_metrics_daily add column shard bigint not null default 0;
alter table seller_metrics_daily drop constraint seller_metrics_daily_pkey;
alter table seller_metrics_daily add primary key (seller_id, day, shard)
