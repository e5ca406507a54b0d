"""Personal access tokens: long-lived, scoped bearer tokens for scripts.

`token_format` makes and recognises the secret, `check` admits a request
that presents one (called from app.auth.token_check), `store` creates,
lists and revokes them for the API, the admin API and the CLI, and `views`
are the caller's own routes under /auth/tokens.
"""
