"""Account and token endpoints."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.auth import accounts, blp, email_verification, password_reset
from app.auth import sessions as login_sessions
from app.auth.devices import trusted_device
from app.auth.logins import complete_login
from app.auth.rate_limits import (
    email_availability_check,
    limit_registration,
    limit_registrations_of,
    limit_verification_mails,
    login_attempt,
)
from app.auth.schemas import (
    AccountDeletionSchema,
    EmailVerificationSchema,
    LoginSchema,
    NoticeSchema,
    PasswordChangeSchema,
    PasswordResetRequestSchema,
    PasswordResetSchema,
    ProfileUpdateSchema,
    RegisterSchema,
    TokenSchema,
    UserSchema,
)
from app.auth.second_factor import mfa_login
from app.auth.second_factor.presence import require_presence
from app.auth.second_factor.schemas import MfaChallengeSchema
from app.auth.token_check import token_account, token_claims
from app.auth.tokens import issue_token_pair, spend_refresh_token
from app.models import User

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
TokenReply = tuple[dict[str, Any], dict[str, str]]  # body, headers
# The login answers one of two bodies: OpenAPI says so with oneOf, flask-smorest's
# response decorator documents one schema, so the view dumps with the right one.
TOKEN_BODY, MFA_CHALLENGE_BODY = TokenSchema(), MfaChallengeSchema()
LOGIN_ANSWER = {
    "description": "A token pair, or, for an account with a second factor, an mfa_token "
    "for the second step (no tokens yet).",
    "content": {
        "application/json": {
            "schema": {"oneOf": [{"$ref": "#/components/schemas/Token"}, MFA_CHALLENGE_BODY]}
        }
    },
}
RESET_REQUESTED = {
    "message": "If an account has this address, a link to reset its password is on its way."
}
VERIFICATION_SENT = {"message": "A verification link is on its way."}


@blp.route("/register")
class Register(MethodView):
    @limit_registration
    @blp.errors(409, 415, 429)
    @blp.arguments(RegisterSchema)
    @blp.response(201, UserSchema)
    @blp.doc(description="A mail asks the owner to verify the address (see `/verify-email`).")
    def post(self, data: dict[str, Any]) -> User:
        """Create an account"""
        limit_registrations_of(data["username"])
        return accounts.register_account(**data)


@blp.route("/login")
class Login(MethodView):
    @blp.errors(401, 403, 415, 429)
    @blp.arguments(LoginSchema, location="json_or_form")
    @blp.doc(
        description="The same fields are also accepted as a JSON object. Send back the "
        "`device_token` of an earlier login so that this client is throttled on its own. "
        "403 for a disabled account, and, with REQUIRE_VERIFIED_EMAIL, for one whose "
        "address is not verified yet (a new verification mail goes out). For an account "
        "with a second factor the answer holds no tokens: `mfa_required`, an `mfa_token` "
        "and the `methods` that finish the login at `/auth/login/mfa`.",
        responses={"200": LOGIN_ANSWER},
    )
    @blp.response(200)
    def post(self, credentials: dict[str, Any]) -> TokenReply:
        """Log in with username (or email) and password; returns a token pair and a device token"""
        login = credentials["username"]
        found = accounts.find_user(login)
        device = trusted_device(credentials.get("device_token"), found)
        with login_attempt(login, found, device) as checked:
            user = accounts.authenticate(checked, credentials["password"], login)
        email_verification.require_verified(user)
        if user.mfa_enabled:
            return MFA_CHALLENGE_BODY.dump(mfa_login.begin(user, device)), NO_STORE
        return TOKEN_BODY.dump(complete_login(user, device)), NO_STORE


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.token_required(refresh=True)
    @blp.response(200, TokenSchema)
    def post(self) -> TokenReply:
        """Trade a refresh token for a new pair; the one presented stops working"""
        claims = token_claims()
        spend_refresh_token(claims)
        return issue_token_pair(token_account(), claims.get("sid")), NO_STORE


@blp.route("/logout")
class Logout(MethodView):
    @blp.token_required()
    @blp.response(204)
    def post(self) -> None:
        """Revoke this access token and the refresh token issued with it"""
        login_sessions.end(token_account(), token_claims()["sid"], reason="logout")


@blp.route("/me")
class Me(MethodView):
    @blp.token_required(scope="account:read")
    @blp.response(200, UserSchema)
    def get(self) -> User:
        """The account the access token belongs to"""
        return accounts.current_account()

    @blp.token_required()
    @blp.errors(409, 415, 429)
    @blp.arguments(ProfileUpdateSchema)
    @blp.doc(
        description="A new `email` takes effect only once it is verified: it gets a "
        "verification mail, the address in use gets a notice, and until then `email` stays "
        "the address in use and `pending_email` shows the new one. Sending the address in "
        "use drops a pending change, as does `DELETE /auth/me/pending-email`."
    )
    @blp.response(200, UserSchema)
    def patch(self, changes: dict[str, Any]) -> User:
        """Change your full name, or your email (with your current password)"""
        user = accounts.current_account()
        if "email" in changes and changes["email"] != user.email:
            require_presence(user, changes)
            # Counted before the availability check, so a taken address (409)
            # costs as much as a free one and both answer 429 past the limit.
            limit_verification_mails(user.id)
            with email_availability_check():
                accounts.ensure_available(None, changes["email"], unverified_email_is_free=True)
        return accounts.change_profile(user, changes)

    @blp.token_required()
    @blp.errors(415, 429)
    @blp.arguments(AccountDeletionSchema)
    @blp.response(204)
    def delete(self, confirmation: dict[str, Any]) -> None:
        """Delete your account and all its items"""
        user = accounts.current_account()
        require_presence(user, confirmation)
        accounts.delete_account(user.username)


@blp.route("/me/pending-email")
class PendingEmail(MethodView):
    @blp.token_required()
    @blp.response(204)
    @blp.doc(
        description="Idempotent: 204 whether or not a change was pending. The link mailed "
        "to the pending address stops working."
    )
    def delete(self) -> None:
        """Cancel your pending email change"""
        accounts.cancel_pending_email(accounts.current_account())


@blp.route("/me/password")
class Password(MethodView):
    @blp.token_required()
    @blp.errors(415, 429)
    @blp.arguments(PasswordChangeSchema)
    @blp.response(204)
    def post(self, change: dict[str, Any]) -> None:
        """Change your password; every token issued before stops working"""
        user = accounts.current_account()
        require_presence(user, change)
        accounts.set_password(user, change["new_password"])


@blp.route("/password-reset")
class PasswordReset(MethodView):
    @blp.errors(415, 429)
    @blp.arguments(PasswordResetRequestSchema)
    @blp.doc(
        description="The answer is the same whether or not an account has this address. "
        "The mail links to `PUBLIC_URL/reset-password?token=...`; the page posts that token "
        "to `/password-reset/confirm`."
    )
    @blp.response(202, NoticeSchema)
    def post(self, data: dict[str, Any]) -> dict[str, str]:
        """Ask for a password-reset link by mail"""
        password_reset.request_password_reset(data["email"])
        return RESET_REQUESTED


@blp.route("/password-reset/confirm")
class PasswordResetConfirm(MethodView):
    @blp.errors(400, 415)
    @blp.arguments(PasswordResetSchema)
    @blp.doc(
        description="The token works once, for PASSWORD_RESET_MINUTES, and not after the "
        "password changed any other way. A used, expired, altered or foreign token is 400."
    )
    @blp.response(204)
    def post(self, data: dict[str, Any]) -> None:
        """Set a new password with the token of a reset mail; every token stops working"""
        password_reset.reset_password(data["token"], data["new_password"])


@blp.route("/verify-email")
class VerifyEmail(MethodView):
    @blp.errors(400, 409, 415)
    @blp.arguments(EmailVerificationSchema)
    @blp.doc(
        description="The mail links to `PUBLIC_URL/verify-email?token=...`; the page posts "
        "that token here. A new address (from `PATCH /auth/me`) replaces the old one now; "
        "409 if another account took it meanwhile."
    )
    @blp.response(200, UserSchema)
    def post(self, data: dict[str, Any]) -> User:
        """Verify an email address with the token of a verification mail"""
        return email_verification.verify_email(data["token"])


@blp.route("/verify-email/resend")
class ResendVerification(MethodView):
    @blp.token_required()
    @blp.errors(409, 429)
    @blp.response(202, NoticeSchema)
    def post(self) -> dict[str, str]:
        """Send another verification mail, to the address waiting to be verified"""
        email_verification.resend_verification(accounts.current_account())
        return VERIFICATION_SENT
