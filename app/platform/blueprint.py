"""flask-smorest Blueprint with our parser and shorthands for documenting."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest

from app.auth.token_check import token_required
from app.platform.parsing import RequestParser

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_SCHEME = "OAuth2"
REFRESH_SCHEME = "RefreshToken"
PERSONAL_TOKEN_SCHEME = "PersonalAccessToken"  # noqa: S105 (a scheme name)
# Names, in each operation that takes personal access tokens, the scope it needs.
SCOPE_KEY = "x-token-scope"
ERROR_RESPONSE = "DEFAULT_ERROR"


class Blueprint(flask_smorest.Blueprint):
    """A resource's routes, parsed with the hardened parser.

    `json_or_form` bodies (the OAuth2 login) are documented as form data only:
    generated clients mishandle one body offered in two content types. Every
    operation gets an `operationId` of its method and view (`get_item_by_id`),
    which client generators turn into function names; `doc(operationId=...)`
    overrides it.
    """

    ARGUMENTS_PARSER = RequestParser()
    PAGINATION_ARGUMENTS_PARSER = ARGUMENTS_PARSER
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/x-www-form-urlencoded",
    }

    def _store_endpoint_docs(
        self, endpoint: str, obj: Any, parameters: Any, tags: Any, **options: Any
    ) -> None:
        super()._store_endpoint_docs(endpoint, obj, parameters, tags, **options)
        for method, doc in self._docs[endpoint].items():
            if method != "parameters":
                manual = doc.setdefault("manual_doc", {})
                manual.setdefault("operationId", f"{method}_{snake_case(endpoint)}")
                if SCOPE_KEY in manual:
                    _describe_scope(manual, doc["docstring"].get("description"))

    @staticmethod
    def _make_pagination_metadata(page: int, page_size: int, item_count: int) -> dict[str, int]:
        """The X-Pagination metadata, as flask-smorest's PaginationMetadataSchema documents it.

        flask-smorest writes these few integers through a schema it builds
        anew on every request; they need no conversion.
        """
        pages = -(-item_count // page_size)
        metadata = {"total": item_count, "total_pages": pages}
        if pages:
            metadata |= {"first_page": 1, "last_page": pages}
            if page <= pages:
                metadata["page"] = page
                if page > 1:
                    metadata["previous_page"] = page - 1
                if page < pages:
                    metadata["next_page"] = page + 1
        return metadata

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        """The pagination header carries PaginationMetadata as JSON text."""
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = {
            "description": "Pagination metadata, JSON-encoded.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PaginationMetadata"}}
            },
        }

    def errors(self, *codes: int) -> Callable[[F], F]:
        """Document the error responses a view may give, in the common shape."""

        def decorator(func: F) -> F:
            for code in codes:
                func = self.alt_response(code, response=ERROR_RESPONSE)(func)
            return func

        return decorator

    def token_required(
        self, *, refresh: bool = False, scope: str | None = None
    ) -> Callable[[F], F]:
        """Require an access token (or a refresh token) and document it.

        With `scope`, a personal access token with that scope is accepted too,
        and the operation documents both and the scope; without, personal
        access tokens are refused (403).
        """
        security: list[dict[str, list[str]]] = [{REFRESH_SCHEME if refresh else ACCESS_SCHEME: []}]
        documented: dict[str, Any] = {}
        if scope is not None:
            security.append({PERSONAL_TOKEN_SCHEME: []})
            documented[SCOPE_KEY] = scope

        def decorator(func: F) -> F:
            func = token_required(refresh, scope)(func)
            func = self.doc(security=security, **documented)(func)
            return self.errors(401, *([403] if scope else []))(func)

        return decorator


def _describe_scope(manual_doc: dict[str, Any], description: str | None) -> None:
    """Say in the operation's description which scope a personal access token needs."""
    scope = manual_doc[SCOPE_KEY]
    sentence = f"A personal access token needs the `{scope}` scope (403 without it)."
    description = manual_doc.get("description", description)
    manual_doc["description"] = f"{description}\n\n{sentence}" if description else sentence


def snake_case(name: str) -> str:
    """`ItemById` -> `item_by_id`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
