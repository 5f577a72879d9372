"""Signing in to the dashboard: a signed session cookie naming the user, a CSRF token
per session, and sign-out that revokes the session for good."""

import hashlib
import hmac
import secrets
import time

from flask import current_app, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface

from .. import accounts, activity, caches
from ..auth import token_user
from ..errors import Forbidden, Unauthorized
from ..models import RevokedToken

CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"


class Sessions(SecureCookieSessionInterface):
    """Flask's signed cookie session, its cookie also `Secure` whenever the request came
    over https (behind a proxy, as werkzeug's ProxyFix reports it)."""

    def get_cookie_secure(self, app):
        secure = super().get_cookie_secure(app)
        return secure or (has_request_context() and request.is_secure)


def init_app(app):
    """Sessions signed with a key derived from the service's secret (a host app's own
    SECRET_KEY is kept), HttpOnly and SameSite=Lax cookies."""
    key = app.config.get("JWT_SECRET_KEY")
    if key and not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = hmac.new(key.encode(), b"jobsapi dashboard session",
                                            hashlib.sha256).hexdigest()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("JOBSAPI_SECURE_COOKIES"):  # served over https by a proxy in front
        app.config["SESSION_COOKIE_SECURE"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:  # Flask's default: none
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if type(app.session_interface) is SecureCookieSessionInterface:  # a host's own stays
        app.session_interface = Sessions()


def _revocation_id(sid):
    return f"dashboard:{sid}"


def sign_in(username, password):
    """Check the credentials through the login lockout (Unauthorized or RateLimited) and
    start a fresh session for the user; both outcomes go to the activity log."""
    try:
        user = accounts.check_password(username, password, address=request.remote_addr)
    except Unauthorized:
        activity.record("auth.login.failed", username=username, resource="user",
                        details={"via": "dashboard"})
        raise
    hours = current_app.config["JOBSAPI_DASHBOARD_SESSION_HOURS"]
    session.clear()
    session.update(uid=user.id, sid=secrets.token_urlsafe(16),
                   exp=int(time.time() + hours * 3600), csrf=secrets.token_urlsafe(32))
    activity.record("auth.login", user=user, resource="user", resource_id=user.id,
                    details={"via": "dashboard"})
    return user


def sign_out():
    """End the session: its id is refused from now on, even if its cookie was copied."""
    user = current_user()
    if user is not None:
        accounts.revoke_access_token({"jti": _revocation_id(session["sid"]),
                                      "exp": session["exp"]})
        activity.record("auth.logout", user=user, resource="user", resource_id=user.id,
                        details={"via": "dashboard"})
    session.clear()


def current_user():
    """The signed-in user of the request, or None (expired, revoked, disabled, none)."""
    if "dashboard_user" not in g:
        g.dashboard_user = _session_user()
        if g.dashboard_user is not None:
            g.jobsapi_user = g.dashboard_user  # the access log names the user
    return g.dashboard_user


def _session_user():
    if not {"uid", "sid", "exp"} <= session.keys() or session["exp"] <= time.time():
        return None
    jti = _revocation_id(session["sid"])
    if caches.auth_cache().is_revoked(jti, lambda: RevokedToken.select().where(
            RevokedToken.jti == jti).exists()):
        return None
    try:
        return token_user({"sub": str(session["uid"])})
    except Unauthorized:
        return None


def csrf_token():
    """The session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf():
    """Forbidden unless the POST carries the session's CSRF token (form field or header)."""
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("The form's CSRF token is missing or wrong: reload the page and "
                        "try again.")
