-- State that several gateway replicas on one database share (issue #16, "shared state"): with
-- `storage.backend: postgres` these tables replace the per-process memory and state-folder files
-- that a single gateway uses. Times are Unix seconds, as everywhere else in the schema.

-- Pairing: pending codes (`<channel>-pairing.json`) and approved senders (`<channel>-allowFrom.json`).
-- `position` keeps the list order the domain sees (oldest request first).
CREATE TABLE pairing_pending (
    channel TEXT NOT NULL,
    position INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    code TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    last_seen_at DOUBLE PRECISION NOT NULL,
    sender_name TEXT NOT NULL DEFAULT '',
    account TEXT NOT NULL DEFAULT 'default',
    PRIMARY KEY (channel, position)
);

CREATE TABLE pairing_approved (
    channel TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    approved_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (channel, sender_id)
);

-- Rate limits: one sliding window per sender; `hits` are the accepted messages' times still in
-- the window, `refused` how many messages in a row were over the limit (1: the one told so).
CREATE TABLE rate_windows (
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    sender TEXT NOT NULL,
    hits DOUBLE PRECISION[] NOT NULL,
    refused INTEGER NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (channel, account, sender)
);

CREATE INDEX rate_windows_by_age ON rate_windows (updated_at);

-- The tool audit log (domain/audit.py AuditRecord), append-only; seq is append order.
CREATE TABLE audit_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    sender TEXT NOT NULL,
    channel TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    verdict TEXT NOT NULL,
    rule TEXT NOT NULL,
    status TEXT NOT NULL
);

-- Cron: each job's state (ports/schedule_store.py JobState), its run history, the jobs added with
-- `rustyclaw cron add` (the config's job form as JSON), and one claim per job and tick.
CREATE TABLE cron_jobs (
    job_id TEXT PRIMARY KEY,
    anchor DOUBLE PRECISION NOT NULL,
    signature TEXT NOT NULL,
    next_run DOUBLE PRECISION,
    last_run DOUBLE PRECISION,
    last_status TEXT,
    last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE cron_runs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    note TEXT
);

CREATE INDEX cron_runs_by_job ON cron_runs (job_id, started_at);

CREATE TABLE cron_added (
    position INTEGER PRIMARY KEY,
    job TEXT NOT NULL
);

-- A replica runs a job's tick only if its INSERT here inserted the row (ON CONFLICT DO NOTHING):
-- exactly one replica per (job, scheduled time), whatever the clocks and leases say.
CREATE TABLE cron_claims (
    job_id TEXT NOT NULL,
    tick DOUBLE PRECISION NOT NULL,
    claimed_at DOUBLE PRECISION NOT NULL,
    claimed_by TEXT NOT NULL,
    PRIMARY KEY (job_id, tick)
);

CREATE INDEX cron_claims_by_age ON cron_claims (claimed_at);

-- Plugin key-value storage (`storage.*` host API): one row per key, the value as JSON text.
CREATE TABLE plugin_kv (
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (plugin, key)
);
