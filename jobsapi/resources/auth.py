"""Login, token refresh, logout and the current user (/api/auth)."""

from flask import request

from .. import accounts, activity
from ..auth import current_user, token_claims
from ..errors import Unauthorized
from ..rest import Blueprint, View
from ..schemas.accounts import LoginSchema, RefreshTokenSchema, TokenPairSchema, UserSchema

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Authentication")


@blp.route("/login")
class Login(View):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenPairSchema)
    @blp.errors(401)
    @blp.alt_response(
        429,
        response="TOO_MANY_REQUESTS",
        headers={"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    )
    def post(self, credentials):
        """Log in: an access token and a refresh token"""
        try:
            user = accounts.check_password(
                credentials["username"], credentials["password"], address=request.remote_addr
            )
        except Unauthorized:
            activity.record("auth.login.failed", username=credentials["username"], resource="user")
            raise
        activity.record("auth.login", user=user, resource="user", resource_id=user.id)
        return accounts.issue_tokens(user)


@blp.route("/refresh")
class Refresh(View):
    @blp.arguments(RefreshTokenSchema)
    @blp.response(200, TokenPairSchema)
    @blp.errors(401)
    def post(self, body):
        """Exchange a refresh token for a new pair (the old one is revoked)"""
        return accounts.refresh_tokens(body["refreshToken"])


def _bearer_claims():
    """The claims of the request's access token, if it carries one that verifies."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return token_claims(token.strip())
    except Unauthorized:
        return None


@blp.route("/logout")
class Logout(View):
    @blp.arguments(RefreshTokenSchema)
    @blp.response(204)
    @blp.doc(security=[{}, {"bearerAuth": []}])
    def post(self, body):
        """Log out: revoke the refresh token's chain, and the access token sent with it

        With `Authorization: Bearer <access token>`, that token is refused from now on
        as well (401 "The access token has been revoked.")."""
        claims = _bearer_claims()
        if claims is not None:
            accounts.revoke_access_token(claims)
        user = accounts.logout(body["refreshToken"])
        if user is not None:
            activity.record("auth.logout", user=user, resource="user", resource_id=user.id)


@blp.route("/me")
class Me(View):
    @blp.login_required()
    @blp.response(200, UserSchema)
    def get(self):
        """The current user"""
        return current_user()
