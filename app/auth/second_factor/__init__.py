"""Second factors: TOTP, recovery codes, the second step of a login and proof of presence.

`methods` lists and removes an account's factors (passkeys register there
too), `mfa_login` finishes a login whose password was right, `presence`
is the one rule for sensitive changes.
"""
