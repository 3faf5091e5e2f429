-- The shared nonce store (storage/nonces.c) for several daemons on one database: a request
-- replayed to another daemon must be refused as surely as one replayed to the same daemon.
-- UNLOGGED: nonces only matter for the few minutes of the auth window, so they are not worth WAL
-- traffic on every request; the price is that a database crash empties the table, which reopens
-- replays of requests signed within the last window (the same as restarting a daemon that keeps
-- its nonces in memory).
CREATE UNLOGGED TABLE nonces (
    app_id     text NOT NULL,
    nonce      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (app_id, nonce)
);
-- The janitor deletes expired rows in small batches, oldest first.
CREATE INDEX nonces_expires_idx ON nonces (expires_at);
