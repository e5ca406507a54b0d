"""Second-factor endpoints: enrol, confirm and remove TOTP, new recovery codes, and the
second step of a login."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from app.auth import blp
from app.auth.accounts import current_account
from app.auth.schemas import PresenceSchema, TokenSchema
from app.auth.second_factor import enrolment, mfa_login
from app.auth.second_factor.codes import use_recovery_code
from app.auth.second_factor.presence import require_presence
from app.auth.second_factor.schemas import (
    MfaLoginSchema,
    RecoveryCodesSchema,
    TotpCodeSchema,
    TotpEnrolmentSchema,
)
from app.auth.second_factor.totp import use_code

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
Reply = tuple[dict[str, Any], dict[str, str]]  # body, headers


@blp.route("/login/mfa")
class LoginSecondStep(MethodView):
    @blp.errors(401, 415, 429)
    @blp.arguments(MfaLoginSchema)
    @blp.doc(
        description="The `mfa_token` of the first step's answer, with a code of the "
        "authenticator app (`code`) or a recovery code (`recovery_code`). The token works "
        "for 5 minutes and finishes one login; a wrong code leaves it usable, within "
        "MFA_RATE_LIMIT per token and per account. A recovery code works once, and its "
        "owner is told by mail."
    )
    @blp.response(200, TokenSchema)
    def post(self, data: dict[str, Any]) -> Reply:
        """Finish a login with a second factor; returns a token pair and a device token"""
        if "code" in data:
            tokens = mfa_login.finish_login(
                data["mfa_token"], "totp", lambda user: use_code(user.id, data["code"])
            )
        else:
            tokens = mfa_login.finish_login(
                data["mfa_token"],
                "recovery_code",
                lambda user: use_recovery_code(user, data["recovery_code"]),
            )
        return tokens, NO_STORE


@blp.route("/mfa/totp")
class Totp(MethodView):
    @blp.token_required()
    @blp.errors(409, 415, 429)
    @blp.arguments(PresenceSchema)
    @blp.doc(
        description="Needs `current_password` (and a `code`, if the account already has a "
        "passkey). The secret is not in use until confirmed with a first code "
        "(`/auth/mfa/totp/confirm`); asking again replaces a pending one."
    )
    @blp.response(201, TotpEnrolmentSchema)
    def post(self, proof: dict[str, Any]) -> Reply:
        """Start enrolling an authenticator app: its secret, otpauth:// URI and QR code"""
        user = current_account()
        require_presence(user, proof)
        return enrolment.begin(user), NO_STORE

    @blp.token_required()
    @blp.errors(415, 429)
    @blp.arguments(PresenceSchema)
    @blp.response(204)
    @blp.doc(
        description="Needs `current_password` and a `code` (TOTP or recovery code). Without "
        "another factor, the recovery codes go too and logins take the password alone."
    )
    def delete(self, proof: dict[str, Any]) -> None:
        """Turn TOTP off"""
        user = current_account()
        require_presence(user, proof)
        enrolment.remove_totp(user)


@blp.route("/mfa/totp/confirm")
class TotpConfirmation(MethodView):
    @blp.token_required()
    @blp.errors(409, 415, 429)
    @blp.arguments(TotpCodeSchema)
    @blp.doc(
        description="The first code of the app turns TOTP on; the answer holds ten recovery "
        "codes, shown this once. 409 when no enrolment is pending."
    )
    @blp.response(200, RecoveryCodesSchema)
    def post(self, data: dict[str, Any]) -> Reply:
        """Confirm TOTP with a first code; returns ten recovery codes"""
        codes = enrolment.confirm(current_account(), data["code"])
        return {"recovery_codes": codes}, NO_STORE


@blp.route("/mfa/recovery-codes")
class RecoveryCodes(MethodView):
    @blp.token_required()
    @blp.errors(409, 415, 429)
    @blp.arguments(PresenceSchema)
    @blp.doc(description="Needs `current_password` and a `code`. 409 without a second factor.")
    @blp.response(200, RecoveryCodesSchema)
    def post(self, proof: dict[str, Any]) -> Reply:
        """Make ten new recovery codes; the old ones stop working"""
        user = current_account()
        require_presence(user, proof)
        return {"recovery_codes": enrolment.new_recovery_codes(user)}, NO_STORE
