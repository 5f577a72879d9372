"""The interactive docs: Swagger UI's files served from a Python package, and / and /docs/
leading to /docs, or / to the dashboard for a browser signed in to it (the page itself is
flask-smorest's; none of this is in the API)."""

from flask import Blueprint, redirect, url_for
from swagger_ui_bundle import swagger_ui_path

from .. import dashboard

# Swagger UI at /docs loads its script and styles from here, relative to the page, so the
# docs work with no internet and with the service mounted under a prefix.
ASSETS_URL = "docs/swagger-ui/"

blp = Blueprint("docs", __name__, static_folder=str(swagger_ui_path),
                static_url_path="/" + ASSETS_URL.rstrip("/"))


@blp.route("/")
def root():
    if dashboard.signed_in():
        return redirect(url_for("dashboard.overview"))
    return to_docs()


@blp.route("/docs/")
def to_docs():
    return redirect(url_for("api-docs.openapi_swagger_ui"))
