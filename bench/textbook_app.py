"""The reads peer: GET /jobs/<jobId> as a textbook flask-smorest + peewee app writes it
(stock @blp.response, verify_jwt_in_request, Model.get), on the service's database file
and secret key, served by waitress with the service's settings.

Usage: python -m bench.textbook_app PORT THREADS DATABASE"""

import pathlib
import sys

import peewee as pw
import waitress
from flask import Flask, jsonify
from flask.views import MethodView
from flask_jwt_extended import JWTManager, get_current_user, verify_jwt_in_request
from flask_smorest import Api, Blueprint, abort

from jobsapi.models import Job, User
from jobsapi.schemas.jobs import JobSchema

blp = Blueprint("jobs", __name__, url_prefix="/jobs")
jwt = JWTManager()


@jwt.user_lookup_loader
def load_user(_header, payload):
    return User.get_or_none((User.id == int(payload["sub"])) & (User.disabled == False))  # noqa: E712


@blp.route("/<job_id>")
class JobById(MethodView):
    @blp.response(200, JobSchema)
    def get(self, job_id):
        verify_jwt_in_request()
        user = get_current_user()
        query = (Job.id == job_id) & Job.deleted_at.is_null()
        if user.role != "admin":
            query &= Job.client == user.id
        try:
            return Job.get(query)
        except Job.DoesNotExist:
            abort(404, message=f"Job not found: {job_id}")


def create_app(database_path):
    app = Flask(__name__)
    app.config.update(API_TITLE="textbook", API_VERSION="1", OPENAPI_VERSION="3.0.3",
                      JWT_SECRET_KEY=(pathlib.Path(database_path).parent / "secret_key")
                      .read_text().strip())
    database = pw.SqliteDatabase(database_path, pragmas={"journal_mode": "wal",
                                                         "busy_timeout": 10000})
    database.bind([Job, User])

    @app.before_request
    def connect():
        database.connect()

    @app.teardown_request
    def close(exc):
        database.close()

    app.get("/health")(lambda: jsonify({"status": "ok"}))
    jwt.init_app(app)
    Api(app).register_blueprint(blp)
    return app


if __name__ == "__main__":
    waitress.serve(create_app(sys.argv[3]), host="127.0.0.1", port=int(sys.argv[1]),
                   threads=int(sys.argv[2]), ident="jobsapi")
