"""User management (/api/users, permission users.manage)."""

from .. import accounts, activity
from ..auth import current_user
from ..errors import NotFound
from ..models import User
from ..rest import Blueprint, View
from ..schemas.accounts import UserCreateSchema, UserSchema, UserUpdateSchema

blp = Blueprint("users", __name__, url_prefix="/api/users", description="Users")


# Ids are positive SQLite integers: a number outside them names no user (404).
USER_ID = f"int(min=1, max={2**63 - 1})"


def user_or_404(user_id):
    """The user by id, or 404."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise NotFound(f"User not found: {user_id}")
    return user


@blp.route("")
class Users(View):
    @blp.login_required("users.manage")
    @blp.response(200, UserSchema(many=True))
    def get(self):
        """List users"""
        return User.select().order_by(User.id)

    @blp.login_required("users.manage")
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    @blp.errors(409)
    def post(self, body):
        """Create a user"""
        user = accounts.create_user(**body)
        activity.record("users.create", user=current_user(), resource="user", resource_id=user.id,
                        details={"username": user.username, "role": user.role,
                                 "permissions": user.permissions})
        return user


@blp.route(f"/<{USER_ID}:user_id>")
class UserById(View):
    @blp.login_required("users.manage")
    @blp.response(200, UserSchema)
    @blp.errors(404)
    def get(self, user_id):
        """Get a user"""
        return user_or_404(user_id)

    @blp.login_required("users.manage")
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.errors(404)
    def patch(self, changes, user_id):
        """Change a user's role, permissions, disabled flag or password"""
        user = accounts.update_user(user_or_404(user_id), changes)
        details = {key: value for key, value in changes.items() if key != "password"}
        if "password" in changes:
            details["passwordChanged"] = True
        activity.record("users.update", user=current_user(), resource="user", resource_id=user.id,
                        details=details)
        return user
