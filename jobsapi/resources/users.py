"""User management (/api/users, permission users.manage)."""

from flask.views import MethodView

from .. import accounts
from ..errors import NotFound
from ..models import User
from ..rest import Blueprint
from ..schemas.accounts import UserCreateSchema, UserSchema, UserUpdateSchema

blp = Blueprint("users", __name__, url_prefix="/api/users", description="Users")


def _user_or_404(user_id):
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise NotFound(f"User not found: {user_id}")
    return user


@blp.route("")
class Users(MethodView):
    @blp.login_required("users.manage")
    @blp.response(200, UserSchema(many=True))
    def get(self):
        """List users"""
        return User.select().order_by(User.id)

    @blp.login_required("users.manage")
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    @blp.errors(409, 415)
    def post(self, body):
        """Create a user"""
        return accounts.create_user(**body)


@blp.route("/<int:user_id>")
class UserById(MethodView):
    @blp.login_required("users.manage")
    @blp.response(200, UserSchema)
    @blp.errors(404)
    def get(self, user_id):
        """Get a user"""
        return _user_or_404(user_id)

    @blp.login_required("users.manage")
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.errors(404, 415)
    def patch(self, changes, user_id):
        """Change a user's role, permissions, disabled flag or password"""
        return accounts.update_user(_user_or_404(user_id), changes)
