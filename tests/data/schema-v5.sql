-- The only DDL of jobsapi. Applied at start-up to an empty database; every
-- statement is idempotent so several processes may start at once. A change here
-- bumps user_version and adds an upgrade step in jobsapi/database.py.

CREATE TABLE IF NOT EXISTS users (
    id INTEGER NOT NULL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'client')),
    permissions TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(permissions)),
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at DATETIME NOT NULL
);

-- Refresh tokens are opaque; only their SHA-256 is stored. A family is one login's
-- chain of rotations: reuse of a rotated token revokes the whole family.
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id INTEGER NOT NULL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    family TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    revoked_at DATETIME
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX IF NOT EXISTS refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- API keys for machines (workers, scripts, monitoring): only the key's SHA-256 is kept.
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER NOT NULL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at DATETIME NOT NULL,
    expires_at DATETIME,
    last_used_at DATETIME,
    revoked_at DATETIME
);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys (user_id);

-- Failed logins per username and client address, for the lockout window.
CREATE TABLE IF NOT EXISTS login_failures (
    id INTEGER NOT NULL PRIMARY KEY,
    username TEXT NOT NULL,
    failed_at DATETIME NOT NULL,
    address TEXT
);
CREATE INDEX IF NOT EXISTS login_failures_username ON login_failures (username, failed_at);
CREATE INDEX IF NOT EXISTS login_failures_address ON login_failures (username, address, failed_at);

-- Access tokens ended before their expiry (logout): their id (jti) until they expire.
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti TEXT NOT NULL PRIMARY KEY,
    expires_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_tokens_expires_at ON revoked_tokens (expires_at);

-- Work jobs. JSON columns hold JSON text; deleted_at marks a soft delete.
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 24),
    client_id INTEGER NOT NULL REFERENCES users (id),
    status TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN (
        'PENDING', 'PROCESSING', 'PROCESSED', 'CONSUMED',
        'ERROR_PROCESSING', 'ERROR_CONSUMING', 'CANCELED')),
    operation TEXT NOT NULL,
    prompts TEXT NOT NULL CHECK (json_valid(prompts)),
    model TEXT NOT NULL,
    temperature REAL CHECK (temperature IS NULL OR temperature BETWEEN 0 AND 2),
    priority INTEGER NOT NULL DEFAULT 500 CHECK (priority BETWEEN 1 AND 1000),
    request_data TEXT NOT NULL CHECK (json_valid(request_data)),
    client_reference TEXT CHECK (client_reference IS NULL OR json_valid(client_reference)),
    response_data TEXT CHECK (response_data IS NULL OR json_valid(response_data)),
    processing_metrics TEXT CHECK (processing_metrics IS NULL OR json_valid(processing_metrics)),
    error_data TEXT CHECK (error_data IS NULL OR json_valid(error_data)),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    deleted_at DATETIME,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    available_at DATETIME NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    estimated_tokens INTEGER CHECK (estimated_tokens IS NULL OR estimated_tokens >= 0),
    snoozes INTEGER NOT NULL DEFAULT 0 CHECK (snoozes >= 0)
);
-- Newest-first pages (ids are time-ordered) over live jobs, per owner and status,
-- so a page costs the same at a million rows as at a thousand.
CREATE INDEX IF NOT EXISTS jobs_live_client ON jobs (client_id, id) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS jobs_live_client_status ON jobs (client_id, status, id) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS jobs_live_status ON jobs (status, id) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS jobs_deleted_at ON jobs (deleted_at) WHERE deleted_at IS NOT NULL;
-- Claims take pending jobs lowest priority first, oldest first within a priority.
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (priority, id) WHERE status = 'PENDING' AND deleted_at IS NULL;
-- Retention: finished jobs by when they last changed.
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (updated_at) WHERE status IN ('CONSUMED', 'CANCELED');

-- Each claim of a work job: its worker, its lease (only the token's SHA-256 is kept)
-- and how it ended (`reported`: the worker's request that ended it, if one did). At most one running attempt per job: the database keeps a job
-- with one holder whatever the code does.
CREATE TABLE IF NOT EXISTS job_attempts (
    id INTEGER NOT NULL PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    worker_id TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    lease_hash TEXT NOT NULL UNIQUE,
    lease_seconds INTEGER NOT NULL,
    claimed_at DATETIME NOT NULL,
    lease_expires_at DATETIME NOT NULL,
    ended_at DATETIME,
    outcome TEXT NOT NULL CHECK (outcome IN (
        'running', 'processed', 'failed', 'retrying', 'released', 'lease_expired', 'canceled')),
    reported TEXT CHECK (reported IS NULL OR reported IN ('complete', 'fail', 'release')),
    error TEXT CHECK (error IS NULL OR json_valid(error)),
    model TEXT NOT NULL DEFAULT '',
    tokens INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS job_attempts_running ON job_attempts (job_id) WHERE outcome = 'running';
CREATE INDEX IF NOT EXISTS job_attempts_job ON job_attempts (job_id, id);
CREATE INDEX IF NOT EXISTS job_attempts_expiry ON job_attempts (lease_expires_at) WHERE outcome = 'running';
CREATE INDEX IF NOT EXISTS job_attempts_worker ON job_attempts (worker_id, claimed_at);
-- Per-model budgets: claims of a model in the last minute, and workers seen lately.
CREATE INDEX IF NOT EXISTS job_attempts_model ON job_attempts (model, claimed_at);
CREATE INDEX IF NOT EXISTS job_attempts_claimed_at ON job_attempts (claimed_at);
-- Queue stats per model and status over live jobs.
CREATE INDEX IF NOT EXISTS jobs_live_model_status ON jobs (model, status, available_at) WHERE deleted_at IS NULL;

-- What a model's provider allows (admin or settings.update): a claim never hands out a
-- job of a paused model, or one that would take the model past a limit. NULL: no limit.
CREATE TABLE IF NOT EXISTS model_limits (
    model TEXT NOT NULL PRIMARY KEY,
    max_concurrency INTEGER CHECK (max_concurrency IS NULL OR max_concurrency >= 0),
    requests_per_minute INTEGER CHECK (requests_per_minute IS NULL OR requests_per_minute >= 0),
    tokens_per_minute INTEGER CHECK (tokens_per_minute IS NULL OR tokens_per_minute >= 0),
    paused_until DATETIME,
    updated_at DATETIME NOT NULL
);

-- Replies to requests sent with an Idempotency-Key, per user, kept 24 hours.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id INTEGER NOT NULL REFERENCES users (id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);

-- Scheduled jobs (the schedules engine). A row per registered task holds only what
-- admins changed (NULL = the code's default) and the last slot handled.
CREATE TABLE IF NOT EXISTS scheduled_jobs (
    id TEXT NOT NULL PRIMARY KEY,
    schedule TEXT,
    enabled INTEGER CHECK (enabled IS NULL OR enabled IN (0, 1)),
    stopped INTEGER NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1)),
    last_slot DATETIME,
    updated_at DATETIME NOT NULL
);

-- Runs, and skipped or missed slots. A slot is claimed once through the unique
-- (job_id, scheduled_for); a job has at most one running run; owner + heartbeat_at
-- are the lease by which runs of a dead process are closed as interrupted.
CREATE TABLE IF NOT EXISTS job_runs (
    id INTEGER NOT NULL PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES scheduled_jobs (id),
    scheduled_for DATETIME,
    started_at DATETIME NOT NULL,
    completed_at DATETIME,
    duration_ms INTEGER,
    result TEXT NOT NULL CHECK (result IN (
        'running', 'success', 'error', 'skipped', 'missed', 'interrupted')),
    triggered_by TEXT NOT NULL,
    details TEXT,
    owner TEXT,
    heartbeat_at DATETIME
);
CREATE UNIQUE INDEX IF NOT EXISTS job_runs_slot ON job_runs (job_id, scheduled_for)
    WHERE scheduled_for IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS job_runs_active ON job_runs (job_id) WHERE result = 'running';
CREATE INDEX IF NOT EXISTS job_runs_job ON job_runs (job_id, id);
CREATE INDEX IF NOT EXISTS job_runs_started_at ON job_runs (started_at);
-- Run logs are listed newest start first (then id), per job or all together.
CREATE INDEX IF NOT EXISTS job_runs_job_started ON job_runs (job_id, started_at);

-- The audit trail: who did what, never passwords or tokens.
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER NOT NULL PRIMARY KEY,
    user_id INTEGER,
    username TEXT,
    action TEXT NOT NULL,
    resource TEXT,
    resource_id TEXT,
    details TEXT CHECK (details IS NULL OR json_valid(details)),
    ip TEXT,
    user_agent TEXT,
    created_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS activities_created_at ON activities (created_at);
CREATE INDEX IF NOT EXISTS activities_action ON activities (action, created_at);
CREATE INDEX IF NOT EXISTS activities_resource ON activities (resource, resource_id);

PRAGMA user_version = 5;
