-- One row of the event log per command instead of one per event: a command appended 4.2
-- events in the cancellation story (2.6 of them its timers' deadline_set and
-- deadline_cleared), each a row with its own primary-key entry and foreign-key check. A
-- row now holds the events one command appended, numbered seq to last_seq, as a JSON
-- array in body (oldest first), their kinds in kinds (separated by spaces), and the first
-- one's time in at. The rows written before hold one event each and become arrays of one.

alter table events add column last_seq integer not null default 0;
update events set last_seq = seq, body = '[' || body || ']';
alter table events rename column kind to kinds
