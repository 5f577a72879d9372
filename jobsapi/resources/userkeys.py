"""API keys of a user (/api/users/<id>/api-keys, permission users.manage)."""

from .. import activity, apikeys
from ..auth import current_user
from ..rest import Blueprint, View
from ..schemas.work import ApiKeyCreateSchema, ApiKeySchema, NewApiKeySchema
from .users import USER_ID, user_or_404

blp = Blueprint("api-keys", __name__, url_prefix="/api/users",
                description="API keys for workers, scripts and monitoring")


@blp.route(f"/<{USER_ID}:user_id>/api-keys")
class ApiKeys(View):
    @blp.login_required("users.manage")
    @blp.response(200, ApiKeySchema(many=True))
    @blp.errors(404)
    def get(self, user_id):
        """List a user's API keys (never the keys themselves)"""
        return apikeys.list_keys(user_or_404(user_id))

    @blp.login_required("users.manage")
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, NewApiKeySchema)
    @blp.errors(404)
    def post(self, body, user_id):
        """Make an API key for a user; the key is in this response only"""
        user = user_or_404(user_id)
        row, key = apikeys.create_key(user, body["name"], body.get("expires_in_days"))
        activity.record("users.api_key.create", user=current_user(), resource="user",
                        resource_id=user.id, details={"keyId": row.id, "name": row.name})
        row.key = key
        return row


@blp.route(f"/<{USER_ID}:user_id>/api-keys/<int(max={2**63 - 1}):key_id>")
class ApiKeyById(View):
    @blp.login_required("users.manage")
    @blp.response(204)
    @blp.errors(404)
    def delete(self, user_id, key_id):
        """Revoke an API key"""
        apikeys.revoke_key(user_or_404(user_id), key_id)
        activity.record("users.api_key.revoke", user=current_user(), resource="user",
                        resource_id=user_id, details={"keyId": key_id})
