-- Fewer B-trees for each outbox row a command writes (five before: the table, the unique
-- dedupe key, the pending, per-order and per-status indexes). The dedupe key is unique per
-- order, and that index also finds an order's messages; the per-status index, led by the
-- topic, serves the claims, the backlog and the purge.

alter table outbox add constraint outbox_once_per_order unique (order_id, dedupe_key);
alter table outbox drop constraint outbox_dedupe_key_key;
drop index outbox_pending;
drop index outbox_by_order
