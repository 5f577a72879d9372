"""The activity log, filtered by action, user and resource, newest first in keyset pages."""

from flask import request

from ..errors import InvalidInput
from ..models import Activity
from .web import ACTIVITIES, blp, page, require

PAGE_SIZE = 50
FILTERS = ("action", "username", "resource", "resource_id")


@blp.route("/activity")
@require(ACTIVITIES)
def activity_log():
    args = request.args
    query = Activity.select()
    for name in FILTERS:
        if args.get(name):
            query = query.where(getattr(Activity, name) == args[name])
    before = args.get("before")
    if before:
        if not before.isdigit():
            raise InvalidInput("before: an activity id.")
        query = query.where(Activity.id < int(before))
    rows = list(query.order_by(Activity.id.desc()).limit(PAGE_SIZE + 1))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return page("dashboard/activity.html", rows=rows, args=args, filters=FILTERS,
                next_before=rows[-1].id if more else None,
                query=[(name, args[name]) for name in FILTERS if args.get(name)])
