"""The activity log: record who did what (never a password or a token)."""

from flask import has_request_context, request

from . import database
from .models import Activity


USER_AGENT_MAX = 500


def record(action, *, user=None, username=None, resource=None, resource_id=None, details=None,
           now=None):
    """Append one entry; the request's client address and agent are taken when there is one."""
    ip = agent = None
    if has_request_context():
        ip = request.remote_addr
        # Kept as sent but for NUL, which PostgreSQL's text does not hold.
        agent = request.user_agent.string[:USER_AGENT_MAX].replace("\x00", "\ufffd") or None
    return Activity.create(
        user_id=user.id if user is not None else None,
        username=user.username if user is not None else username,
        action=action,
        resource=resource,
        resource_id=None if resource_id is None else str(resource_id),
        details=details,
        ip=ip,
        user_agent=agent,
        created_at=now or database.now(),
    )
