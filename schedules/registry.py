"""The task registry: task functions by id, with their name, description and defaults."""

import dataclasses
import logging
import re
import threading
from typing import Callable, Optional

from .cron import validate_schedule

JOB_ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    id: str
    name: str
    description: str
    schedule: str
    enabled: bool
    func: Callable


@dataclasses.dataclass
class TaskContext:
    """What a running task is given: its run, who triggered it, a logger, a stop event,
    and the settings its host configured the scheduler with."""

    run_id: int
    job_id: str
    triggered_by: str
    logger: logging.Logger
    stop_event: threading.Event
    settings: dict = dataclasses.field(default_factory=dict)

    @property
    def stopping(self):
        return self.stop_event.is_set()


class Registry:
    """Tasks registered by id; a duplicate id is an error."""

    def __init__(self):
        self._tasks = {}

    def task(self, id, *, name, description="", schedule, enabled=True):
        """Decorator: register `func(context) -> Optional[str]` as the task `id`."""
        if not JOB_ID_RE.match(id):
            raise ValueError(f"task id must be a lowercase slug: {id!r}")
        validate_schedule(schedule)

        def decorator(func):
            self.add(TaskSpec(id, name, description, schedule, bool(enabled), func))
            return func

        return decorator

    def add(self, spec):
        if spec.id in self._tasks:
            raise ValueError(f"task already registered: {spec.id}")
        self._tasks[spec.id] = spec

    def get(self, id) -> Optional[TaskSpec]:
        return self._tasks.get(id)

    def __iter__(self):
        return iter(sorted(self._tasks.values(), key=lambda spec: spec.id))

    def __contains__(self, id):
        return id in self._tasks

    def __len__(self):
        return len(self._tasks)
