"""The sign-in form and sign-out (the rules are in signin.py)."""

from flask import redirect, render_template, request, url_for

from ..errors import RateLimited, Unauthorized
from . import signin
from .web import blp


@blp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form; failures go through the login lockout like the API's."""
    target = request.values.get("next") or ""
    if not target.startswith("/dashboard") or "//" in target:
        target = url_for("dashboard.overview")
    if request.method == "GET":
        if signin.current_user() is not None:
            return redirect(target)
        return render_template("dashboard/login.html", next=target)
    username = request.form.get("username", "")
    try:
        signin.sign_in(username, request.form.get("password", ""))
    except (Unauthorized, RateLimited) as error:
        headers = {"Retry-After": str(error.retry_after)} if error.code == 429 else {}
        return render_template("dashboard/login.html", next=target, username=username,
                               error=error.message), error.code, headers
    return redirect(target)


@blp.route("/logout", methods=["POST"])
def logout():
    signin.sign_out()
    return redirect(url_for("dashboard.login"))
