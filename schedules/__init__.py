"""schedules: a cron scheduler engine on a database (stdlib, peewee and croniter only)."""

from .cron import InvalidSchedule, next_fire, validate_schedule
from .engine import AlreadyRunning, NotScheduled, Scheduler, UnknownJob
from .registry import Registry, TaskContext, TaskSpec

__all__ = [
    "AlreadyRunning",
    "InvalidSchedule",
    "NotScheduled",
    "Registry",
    "Scheduler",
    "TaskContext",
    "TaskSpec",
    "UnknownJob",
    "next_fire",
    "validate_schedule",
]
