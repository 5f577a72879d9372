"""Configuration: class defaults, overridden by JOBSAPI_* environment variables."""

import os


def _csv(value):
    return [item.strip() for item in value.split(",") if item.strip()]


def _flag(value):
    return value.lower() not in ("0", "false", "no", "off")


def _log_format(value):
    if value.lower() not in ("text", "json"):
        raise ValueError(value)
    return value.lower()


class Config:
    """Defaults; every key can be overridden by an environment variable of the same name."""

    JOBSAPI_HOST = "127.0.0.1"
    JOBSAPI_PORT = 8000
    JOBSAPI_THREADS = 8
    JOBSAPI_DATABASE = "var/jobsapi.db"
    JOBSAPI_DATABASE_POOL = None  # PostgreSQL connections per instance; unset: both thread counts + 4
    JOBSAPI_SECRET_KEY = None  # unset: generated once and kept beside the database
    JOBSAPI_ADMIN_PASSWORD = None  # unset: generated and printed once on first start
    JOBSAPI_MAX_BATCH = 1000
    JOBSAPI_MAX_BODY = 16 * 1024 * 1024
    JOBSAPI_MODELS = []  # empty: any model name is accepted
    JOBSAPI_OPERATIONS = []  # empty: any operation name is accepted
    JOBSAPI_ACCESS_TOKEN_MINUTES = 15
    JOBSAPI_REFRESH_TOKEN_DAYS = 30
    JOBSAPI_LOGIN_MAX_FAILURES = 5  # per username and client address
    JOBSAPI_LOGIN_MAX_FAILURES_PER_USER = 50  # per username, from all addresses
    JOBSAPI_LOGIN_WINDOW_MINUTES = 15
    JOBSAPI_USER_CACHE_SECONDS = 1.0  # how long a request may reuse another's user lookup
    JOBSAPI_LOG_LEVEL = "INFO"
    JOBSAPI_LOG_FORMAT = "text"  # or json: one object per line
    JOBSAPI_METRICS_PUBLIC = False  # true: GET /metrics without a credential
    JOBSAPI_SCHEDULER = True  # run the scheduler thread in `make run` / app.py
    JOBSAPI_TIMEZONE = "UTC"
    JOBSAPI_SCHEDULER_THREADS = 4
    JOBSAPI_MISFIRE_GRACE = 3600  # seconds
    JOBSAPI_SHUTDOWN_GRACE = 30  # seconds
    JOBSAPI_SCHEDULER_LEASE = 30  # seconds without heartbeat before a run is interrupted
    JOBSAPI_PURGE_AFTER_DAYS = 30
    JOBSAPI_LOG_RETENTION_DAYS = 30
    JOBSAPI_BACKUP_DIR = None  # unset: a backups/ directory beside the database file
    JOBSAPI_BACKUP_KEEP = 7  # newest backups kept
    JOBSAPI_MAX_ATTEMPTS = 5  # a job's default number of attempts
    JOBSAPI_RETRY_BASE_SECONDS = 10.0  # first retry's delay; it doubles per attempt
    JOBSAPI_RETRY_MAX_SECONDS = 900.0  # the longest retry delay
    JOBSAPI_RETAIN_FINISHED_DAYS = None  # unset: CONSUMED and CANCELED jobs are kept
    JOBSAPI_WAITING_CLAIMS = None  # claims waiting at once; unset: half of JOBSAPI_THREADS
    JOBSAPI_MAX_SNOOZES = 20  # rate-limited failures that do not count as attempts
    JOBSAPI_CLAIM_POLL_SECONDS = 0.5  # how often a waiting claim looks again unwoken
    JOBSAPI_DASHBOARD_SESSION_HOURS = 12  # a dashboard sign-in lasts this long
    JOBSAPI_SECURE_COOKIES = False  # true: the session cookie is always Secure (https proxy)

    # How each overridable key is parsed from its environment string.
    PARSERS = {
        "JOBSAPI_PORT": int,
        "JOBSAPI_THREADS": int,
        "JOBSAPI_DATABASE_POOL": int,
        "JOBSAPI_MAX_BATCH": int,
        "JOBSAPI_MAX_BODY": int,
        "JOBSAPI_MODELS": _csv,
        "JOBSAPI_OPERATIONS": _csv,
        "JOBSAPI_ACCESS_TOKEN_MINUTES": int,
        "JOBSAPI_REFRESH_TOKEN_DAYS": int,
        "JOBSAPI_LOGIN_MAX_FAILURES": int,
        "JOBSAPI_LOGIN_MAX_FAILURES_PER_USER": int,
        "JOBSAPI_LOGIN_WINDOW_MINUTES": int,
        "JOBSAPI_USER_CACHE_SECONDS": float,
        "JOBSAPI_LOG_FORMAT": _log_format,
        "JOBSAPI_METRICS_PUBLIC": _flag,
        "JOBSAPI_SCHEDULER": lambda value: value.lower() not in ("0", "false", "no", "off"),
        "JOBSAPI_SCHEDULER_THREADS": int,
        "JOBSAPI_MISFIRE_GRACE": float,
        "JOBSAPI_SHUTDOWN_GRACE": float,
        "JOBSAPI_SCHEDULER_LEASE": float,
        "JOBSAPI_PURGE_AFTER_DAYS": int,
        "JOBSAPI_LOG_RETENTION_DAYS": int,
        "JOBSAPI_BACKUP_DIR": str,
        "JOBSAPI_BACKUP_KEEP": int,
        "JOBSAPI_MAX_ATTEMPTS": int,
        "JOBSAPI_RETRY_BASE_SECONDS": float,
        "JOBSAPI_RETRY_MAX_SECONDS": float,
        "JOBSAPI_RETAIN_FINISHED_DAYS": int,
        "JOBSAPI_WAITING_CLAIMS": int,
        "JOBSAPI_MAX_SNOOZES": int,
        "JOBSAPI_CLAIM_POLL_SECONDS": float,
        "JOBSAPI_DASHBOARD_SESSION_HOURS": float,
        "JOBSAPI_SECURE_COOKIES": _flag,
    }


def from_env(environ=None):
    """Return the configuration as a dict: class defaults updated from the environment."""
    environ = os.environ if environ is None else environ
    config = {key: getattr(Config, key) for key in dir(Config) if key.startswith("JOBSAPI_")}
    for key in config:
        if environ.get(key) not in (None, ""):
            parse = Config.PARSERS.get(key, str)
            try:
                config[key] = parse(environ[key])
            except ValueError:
                raise SystemExit(f"invalid value for {key}: {environ[key]!r}") from None
    return config
