"""The work jobs' state table: which status may follow which, and for whom."""

STATUSES = (
    "PENDING",
    "PROCESSING",
    "PROCESSED",
    "CONSUMED",
    "ERROR_PROCESSING",
    "ERROR_CONSUMING",
    "CANCELED",
)

# status -> statuses anyone who may change the job can move it to.
TRANSITIONS = {
    "PENDING": {"PROCESSING", "CANCELED"},
    "PROCESSING": {"PROCESSED", "ERROR_PROCESSING", "PENDING"},
    "PROCESSED": {"CONSUMED", "ERROR_CONSUMING", "CANCELED"},
    "ERROR_PROCESSING": {"PENDING"},
    "ERROR_CONSUMING": {"PROCESSED"},
    "CONSUMED": set(),
    "CANCELED": set(),
}
# Moves only admins may make, on top of the table.
ADMIN_TRANSITIONS = {"CANCELED": {"PENDING"}}
ADMIN_TARGETS_FROM_ANY = {"ERROR_PROCESSING", "ERROR_CONSUMING"}

# Fields describing the work itself: they change only before the work is done.
CONTENT_FIELDS = ("operation", "prompts", "model", "temperature", "request_data")
CONTENT_EDITABLE_IN = {"PENDING", "ERROR_PROCESSING"}


def can_move(current, target, admin):
    """Whether a job in `current` may move to `target` (the same status is no move)."""
    if current == target or target in TRANSITIONS[current]:
        return True
    return admin and (target in ADMIN_TRANSITIONS.get(current, ())
                      or target in ADMIN_TARGETS_FROM_ANY)
