"""Job ids: 24 lowercase hex characters, time-ordered like a MongoDB ObjectId."""

import datetime as dt
import itertools
import os
import re
import threading
import time

JOB_ID_PATTERN = r"^[0-9a-f]{24}$"
JOB_ID_RE = re.compile(JOB_ID_PATTERN)

_lock = threading.Lock()
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_process_random = os.urandom(5).hex()
_process_pid = os.getpid()


def new_job_id(now=None):
    """4 bytes of seconds, 5 random bytes per process, a 3-byte counter: sortable by time."""
    global _process_random, _process_pid
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    with _lock:
        if os.getpid() != _process_pid:  # a forked worker must not share its parent's ids
            _process_pid, _process_random = os.getpid(), os.urandom(5).hex()
        count = next(_counter) & 0xFFFFFF
    return f"{seconds:08x}{_process_random}{count:06x}"


def first_id_at(when):
    """The smallest job id made at or after `when` (naive UTC): a bound that lets a range
    of creation times be read through the primary key."""
    seconds = int(when.replace(tzinfo=dt.timezone.utc).timestamp())
    return f"{max(seconds, 0):08x}" + "0" * 16
