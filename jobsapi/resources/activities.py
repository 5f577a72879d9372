"""The activity log (/api/activities, permission activities.read)."""

import datetime as dt

from flask_smorest import abort

from ..models import Activity
from ..rest import Blueprint, View
from ..schemas.scheduled import ActivityArgs, ActivityPageSchema

blp = Blueprint("activities", __name__, url_prefix="/api/activities", description="Activity log")


def _utc(value):
    if value.tzinfo is not None:
        try:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31T23:59-05:00 is past the last datetime
            abort(400, message="A time in the request is out of range.")
    return value


@blp.route("")
class Activities(View):
    @blp.login_required("activities.read")
    @blp.arguments(ActivityArgs, location="query")
    @blp.response(200, ActivityPageSchema)
    def get(self, args):
        """Activity log entries, newest first"""
        query = Activity.select()
        for name in ("action", "user_id", "resource", "resource_id"):
            if args.get(name) is not None:
                query = query.where(getattr(Activity, name) == args[name])
        if args.get("since") is not None:
            query = query.where(Activity.created_at >= _utc(args["since"]))
        if args.get("until") is not None:
            # Times are shown to the millisecond; `until` includes that whole millisecond.
            until = _utc(args["until"])
            until = until.replace(microsecond=until.microsecond // 1000 * 1000)
            query = query.where(Activity.created_at < until + dt.timedelta(milliseconds=1))
        limit, offset = min(args["limit"], ActivityArgs.MAX_LIMIT), args["offset"]
        page = list(query.order_by(Activity.id.desc()).limit(limit).offset(offset)) if limit else []
        return {"activities": page, "total": query.count(), "limit": limit, "offset": offset}
