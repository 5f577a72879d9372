"""The activity log (/api/activities, permission activities.read)."""

import datetime as dt

from ..models import Activity
from ..parsing import naive_utc
from ..rest import Blueprint, View
from ..schemas.scheduled import ActivityArgs, ActivityPageSchema

blp = Blueprint("activities", __name__, url_prefix="/api/activities", description="Activity log")



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
            query = query.where(Activity.created_at >= naive_utc(args["since"]))
        if args.get("until") is not None:
            # Times are shown to the millisecond; `until` includes that whole millisecond.
            until = naive_utc(args["until"])
            until = until.replace(microsecond=until.microsecond // 1000 * 1000)
            query = query.where(Activity.created_at < until + dt.timedelta(milliseconds=1))
        limit, offset = min(args["limit"], ActivityArgs.MAX_LIMIT), args["offset"]
        page = list(query.order_by(Activity.id.desc()).limit(limit).offset(offset)) if limit else []
        return {"activities": page, "total": query.count(), "limit": limit, "offset": offset}
