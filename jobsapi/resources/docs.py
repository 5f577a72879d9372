"""The interactive docs: Swagger UI's files served from a Python package, and / and /docs/
leading to /docs (the page itself is flask-smorest's; none of this is in the API)."""

from flask import Blueprint, redirect, url_for
from swagger_ui_bundle import swagger_ui_path

# Swagger UI at /docs loads its script and styles from here, relative to the page, so the
# docs work with no internet and with the service mounted under a prefix.
ASSETS_URL = "docs/swagger-ui/"

blp = Blueprint("docs", __name__, static_folder=str(swagger_ui_path),
                static_url_path="/" + ASSETS_URL.rstrip("/"))


@blp.route("/")
@blp.route("/docs/")
def to_docs():
    return redirect(url_for("api-docs.openapi_swagger_ui"))
