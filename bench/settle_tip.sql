-- pgbench script for bench/run: the settlement transaction the invoice poller runs when the node
-- reports an invoice Paid (storage/tips.c, tips_settle): one fl_settle_tip call, which locks the
-- tip, gets or creates the two ledger accounts, writes the transfer, marks the tip SETTLED and
-- records the event. Each call takes the next of the UNPAID tips listed in bench_settle (made by
-- bench/run before each round) through the sequence bench_settle_seq, so no tip is settled twice;
-- the scalar subquery draws one value per call. A call past the end of the list finds no tip and
-- fails, which pgbench reports as an aborted client.
SELECT f.applied
  FROM fl_settle_tip((SELECT id FROM bench_settle WHERE n = (SELECT nextval('bench_settle_seq'))),
                     100000000, 'bench', 'Paid') f;
