"""Item endpoints: list, create, read, replace, patch, delete."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.views import MethodView
from flask_jwt_extended import current_user

from app.database import begin_write
from app.extensions import db
from app.items import blp
from app.items.schemas import ItemCreateSchema, ItemPatchSchema, ItemQueryArgs, ItemSchema
from app.items.store import change_item_count, get_own_item_or_404, own_items, total
from app.models import MAX_ID, Item

Headers = dict[str, str]


ETAG_DOC = {"ETag": {"description": "This version of the item.", "schema": {"type": "string"}}}
LOCATION_DOC = {"Location": {"description": "URL of the new item.", "schema": {"type": "string"}}}


def etag_header(item: Item) -> Headers:
    return {"ETag": f'"{item.etag}"'}


@blp.route("")
class Items(MethodView):
    @blp.token_required()
    @blp.arguments(ItemQueryArgs, location="query")
    @blp.response(200, ItemSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=100)
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> list[Item]:
        """List your items, newest first"""
        statement = own_items(args.get("q"), args["sort"])
        pagination_parameters.item_count = total(statement, args.get("q"))
        # A page past the last possible row is empty, not a driver overflow.
        offset = min(pagination_parameters.first_item, MAX_ID)
        page = statement.limit(pagination_parameters.page_size).offset(offset)
        return list(db.session.scalars(page))

    @blp.token_required()
    @blp.errors(415)
    @blp.arguments(ItemCreateSchema)
    @blp.response(201, ItemSchema, headers={**LOCATION_DOC, **ETAG_DOC})
    def post(self, data: dict[str, Any]) -> tuple[Item, Headers]:
        """Create an item"""
        begin_write()
        item = Item(owner_id=current_user.id, **data)
        db.session.add(item)
        change_item_count(current_user, +1)
        db.session.commit()
        location = url_for(f"{request.blueprint}.ItemById", item_id=item.id)
        return item, {"Location": location, **etag_header(item)}


@blp.route("/<int:item_id>")
class ItemById(MethodView):
    @blp.token_required()
    @blp.errors(404)
    @blp.response(200, ItemSchema, headers=ETAG_DOC)
    def get(self, item_id: int) -> tuple[Item, Headers]:
        """Get one of your items"""
        item = get_own_item_or_404(item_id)
        return item, etag_header(item)

    @blp.token_required()
    @blp.errors(404, 412, 415)
    @blp.arguments(ItemCreateSchema)
    @blp.response(200, ItemSchema, headers=ETAG_DOC)
    def put(self, data: dict[str, Any], item_id: int) -> tuple[Item, Headers]:
        """Replace one of your items

        With `If-Match: <ETag>` the change applies only if the item is
        unchanged since that read; otherwise the answer is 412.
        """
        item = get_own_item_or_404(item_id, for_update=True)
        item.title = data["title"]
        item.description = data.get("description")
        db.session.commit()
        return item, etag_header(item)

    @blp.token_required()
    @blp.errors(404, 412, 415)
    @blp.arguments(ItemPatchSchema(partial=True))
    @blp.response(200, ItemSchema, headers=ETAG_DOC)
    def patch(self, data: dict[str, Any], item_id: int) -> tuple[Item, Headers]:
        """Change some fields of one of your items

        With `If-Match: <ETag>` the change applies only if the item is
        unchanged since that read; otherwise the answer is 412.
        """
        item = get_own_item_or_404(item_id, for_update=True)
        for field, value in data.items():
            setattr(item, field, value)
        db.session.commit()
        return item, etag_header(item)

    @blp.token_required()
    @blp.errors(404, 412)
    @blp.response(204)
    def delete(self, item_id: int) -> None:
        """Delete one of your items

        With `If-Match: <ETag>` it is deleted only if unchanged since that
        read; otherwise the answer is 412.
        """
        item = get_own_item_or_404(item_id, for_update=True)
        db.session.delete(item)
        change_item_count(current_user, -1)
        db.session.commit()
