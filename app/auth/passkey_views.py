"""Passkey endpoints: register, list and remove your passkeys; sign in with one."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.auth import accounts, blp, email_verification, passkey_registration, passkeys
from app.auth.logins import complete_login
from app.auth.passkey_schemas import PasskeyLoginSchema, PasskeyRegistrationSchema, PasskeySchema
from app.auth.rate_limits import limit_passkey_options, passkey_attempt
from app.auth.schemas import PresenceSchema, TokenSchema
from app.auth.second_factor import mfa_login
from app.auth.second_factor.presence import require_presence
from app.extensions import db
from app.models import Passkey, User
from app.platform.errors import abort

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OPTIONS_DOC = (
    "WebAuthn {} options as JSON: pass them to `PublicKeyCredential.parse{}OptionsFromJSON()` "
    "and the browser's WebAuthn call. Their challenge works once, for five minutes."
)


@blp.route("/passkeys/register/options")
class PasskeyRegistrationOptions(MethodView):
    @blp.token_required()
    @blp.errors(401, 415, 429)
    @blp.arguments(PresenceSchema)
    @blp.response(200, description=OPTIONS_DOC.format("creation", "Creation"))
    def post(self, proof: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """WebAuthn creation options for a new passkey of yours (proof of presence)"""
        user = accounts.current_account()
        require_presence(user, proof)
        return passkey_registration.registration_options(user), NO_STORE


@blp.route("/passkeys")
class Passkeys(MethodView):
    @blp.token_required()
    @blp.response(200, PasskeySchema(many=True))
    def get(self) -> list[Passkey]:
        """Your passkeys, oldest first"""
        return passkeys.passkeys_of(accounts.current_account())

    @blp.token_required()
    @blp.errors(409, 415)
    @blp.arguments(PasskeyRegistrationSchema)
    @blp.doc(
        description="422 when the credential does not verify: another relying party or "
        "origin, a used or expired challenge, no user verification. 409 when it is "
        "registered already."
    )
    @blp.response(201, PasskeySchema)
    def post(self, data: dict[str, Any]) -> Passkey:
        """Add a passkey to your account, with a name"""
        return passkey_registration.register(
            accounts.current_account(), data["name"], data["credential"]
        )


@blp.route("/passkeys/<int:passkey_id>")
class OnePasskey(MethodView):
    @blp.token_required()
    @blp.errors(401, 404, 415, 429)
    @blp.arguments(PresenceSchema)
    @blp.response(204)
    def delete(self, proof: dict[str, Any], passkey_id: int) -> None:
        """Remove one of your passkeys (proof of presence)"""
        user = accounts.current_account()
        require_presence(user, proof)
        if not passkeys.remove(user, passkey_id):
            abort(404, "No such passkey.")


@blp.route("/passkeys/login/options")
class PasskeyLoginOptions(MethodView):
    @blp.errors(429)
    @blp.response(200, description=OPTIONS_DOC.format("request", "Request"))
    def post(self) -> tuple[dict[str, Any], dict[str, str]]:
        """WebAuthn request options to sign in with a passkey"""
        limit_passkey_options()
        return passkeys.assertion_options(), NO_STORE


@blp.route("/passkeys/login")
class PasskeyLogin(MethodView):
    @blp.errors(401, 403, 415, 429)
    @blp.arguments(PasskeyLoginSchema)
    @blp.doc(
        description="The same Token body as a password login; the session's "
        "`auth_method` says `passkey`. With the `mfa_token` of a password login's first "
        "step, the passkey must be one of that account's and finishes that login. 401 for "
        "any assertion that does not verify."
    )
    @blp.response(200, TokenSchema)
    def post(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Sign in with a passkey, alone or as the second step of a password login"""
        if "mfa_token" in data:
            tokens = mfa_login.finish_login(
                data["mfa_token"],
                "passkey",
                lambda user: passkeys.verified_passkey(data["credential"], user) is not None,
            )
            return tokens, NO_STORE
        with passkey_attempt():
            passkey = passkeys.authenticate(data["credential"])
        user = db.session.get(User, passkey.user_id)
        if user is None or user.disabled:
            abort(403, "This account is disabled.")
        email_verification.require_verified(user)
        return complete_login(user, None, "passkey"), NO_STORE
