-- The buyer's unpaid orders, counted when the buyer places another, in an index of the
-- unpaid ones alone. Indexing every order by (buyer, status) rewrote an index entry, on a
-- page of its own (buyers are spread over the index), on every command of every order;
-- now only placing and paying touch it.

create index orders_unpaid_by_buyer on orders (buyer_id) where status = 'awaiting_payment';
drop index orders_by_buyer_status;
