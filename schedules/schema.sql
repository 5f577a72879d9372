-- The schedules engine's tables (SQLite). A host's own schema includes these
-- statements as they are (jobsapi's schema.sql does; a test keeps them equal).

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
