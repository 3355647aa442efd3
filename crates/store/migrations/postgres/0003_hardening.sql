-- Hardening: an idempotency key's reservation names its owner, so that a request whose
-- key was taken over (it ran too long) cannot commit its answer, nor its work, as well.
-- The unpaid-orders limit counts a buyer's orders by status.

alter table idempotency_keys add column owner text;
create index orders_by_buyer_status on orders (buyer_id, status);
