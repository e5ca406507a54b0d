"""What a personal access token may be allowed to do; each route that takes one names one."""

from __future__ import annotations

SCOPES = {
    "items:read": "List and read your items.",
    "items:write": "Create, change and delete your items.",
    "account:read": "Read your account (GET /auth/me).",
}
