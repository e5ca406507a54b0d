"""Item endpoints: list, create, read, replace, patch, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import request, url_for
from flask.views import MethodView

from app.items import blp
from app.items.schemas import ItemCreateSchema, ItemPatchSchema, ItemQueryArgs, ItemSchema
from app.items.store import (
    ItemRow,
    count_own_items,
    create_item,
    delete_item,
    etag,
    get_own_item,
    list_own_items,
    update_item,
)
from app.platform.listing import page_window

Headers = dict[str, str]

ETAG_DOC = {"ETag": {"description": "This version of the item.", "schema": {"type": "string"}}}
LOCATION_DOC = {"Location": {"description": "URL of the new item.", "schema": {"type": "string"}}}


def etag_header(item: ItemRow) -> Headers:
    return {"ETag": f'"{etag(item)}"'}


@blp.route("")
class Items(MethodView):
    @blp.token_required(scope="items:read")
    @blp.arguments(ItemQueryArgs, location="query")
    @blp.response(200, ItemSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=100)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Sequence[ItemRow]:
        """List your items, newest first"""
        search = args.get("q")
        offset, size = page_window(pagination_parameters, count_own_items(search))
        return list_own_items(search, args["sort"], offset, size)

    @blp.token_required(scope="items:write")
    @blp.errors(415)
    @blp.arguments(ItemCreateSchema)
    @blp.response(201, ItemSchema, headers={**LOCATION_DOC, **ETAG_DOC})
    def post(self, data: dict[str, Any]) -> tuple[ItemRow, Headers]:
        """Create an item"""
        item = create_item(data["title"], data.get("description"))
        location = url_for(f"{request.blueprint}.ItemById", item_id=item.id)
        return item, {"Location": location, **etag_header(item)}


@blp.route("/<int:item_id>")
class ItemById(MethodView):
    @blp.token_required(scope="items:read")
    @blp.errors(404)
    @blp.response(200, ItemSchema, headers=ETAG_DOC)
    def get(self, item_id: int) -> tuple[ItemRow, Headers]:
        """Get one of your items"""
        item = get_own_item(item_id)
        return item, etag_header(item)

    @blp.token_required(scope="items:write")
    @blp.errors(404, 412, 415)
    @blp.arguments(ItemCreateSchema)
    @blp.response(200, ItemSchema, headers=ETAG_DOC)
    def put(self, data: dict[str, Any], item_id: int) -> tuple[ItemRow, Headers]:
        """Replace one of your items

        With `If-Match: <ETag>` the change applies only if the item is
        unchanged since that read; otherwise the answer is 412.
        """
        replacement = {"title": data["title"], "description": data.get("description")}
        item = update_item(item_id, replacement)
        return item, etag_header(item)

    @blp.token_required(scope="items:write")
    @blp.errors(404, 412, 415)
    @blp.arguments(ItemPatchSchema(partial=True))
    @blp.response(200, ItemSchema, headers=ETAG_DOC)
    def patch(self, data: dict[str, Any], item_id: int) -> tuple[ItemRow, Headers]:
        """Change some fields of one of your items

        With `If-Match: <ETag>` the change applies only if the item is
        unchanged since that read; otherwise the answer is 412.
        """
        item = update_item(item_id, data)
        return item, etag_header(item)

    @blp.token_required(scope="items:write")
    @blp.errors(404, 412)
    @blp.response(204)
    def delete(self, item_id: int) -> None:
        """Delete one of your items

        With `If-Match: <ETag>` it is deleted only if unchanged since that
        read; otherwise the answer is 412.
        """
        delete_item(item_id)
