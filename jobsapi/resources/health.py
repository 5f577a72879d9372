"""GET /health: is the service up and does the database answer."""

import marshmallow as ma
from flask.views import MethodView

from ..database import db
from ..rest import Blueprint

blp = Blueprint("health", __name__, url_prefix="/health", description="Service health")


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})
    database = ma.fields.String(required=True, metadata={"example": "ok"})


@blp.route("")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.errors(503)
    def get(self):
        """Service health (no authentication)"""
        db.execute_sql("SELECT 1").fetchone()
        return {"status": "ok", "database": "ok"}
