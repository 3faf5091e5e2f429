-- pgbench script for bench/run: the database writes of one tip.create, as the hub sends them
-- (storage/tips.c, tips_insert): one fl_tip_insert call in its own transaction, with a fresh id,
-- request hash, invoice and payment hash each time so every call inserts a tip and its event.
-- The app 'bench' must exist. The invoice is a random 164-character string, within the range of
-- lengths fnn-sim's invoices have, so rows and index entries are of a realistic size. Tips
-- written here are UNPAID; bench/run moves them out of the poller's way after each round.
SELECT f.inserted, (f.tip).id
  FROM fl_tip_insert(gen_random_uuid(), 'bench', NULL,
                     md5(random()::text) || md5(random()::text),
                     'bench-post', NULL, 'bench-from', 'bench-to', 'CKB', 100000000, 'bench',
                     'fibt' || md5(random()::text) || md5(random()::text) ||
                         md5(random()::text) || md5(random()::text) || md5(random()::text),
                     '0x' || md5(random()::text) || md5(random()::text),
                     now() + interval '3600 seconds') f;
