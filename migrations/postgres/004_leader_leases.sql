-- Named leases for gateway.replicas (issue #16): the holder of a lease runs its duties (the "gateway"
-- lease: Telegram long polling, the Discord gateway, cron, sandbox pruning) until expires_at.
-- A replica takes or renews a lease with one INSERT ... ON CONFLICT DO UPDATE that only succeeds
-- when the lease has expired or is already its own (adapters/storage/pg_leader.py).
-- Times are Unix seconds like every other timestamp, but read from the database's clock
-- (clock_timestamp()), never a replica's: replicas whose clocks disagree still agree on expiry.
-- term counts changes of holder, so logs can tell one leadership from the next.
CREATE TABLE leader_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    term BIGINT NOT NULL,
    acquired_at DOUBLE PRECISION NOT NULL,
    renewed_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
