"""The views of a CRUD resource, written once: a collection (`GET` a page, `POST` one) and an
item (`GET`, `PATCH` with If-Match, `DELETE`). Imports no domain: only the API's base (pages).

A resource subclasses `CollectionView` or `ItemView`, names its blueprint, schemas, guards
(permission decorators), documentation and hooks, and is routed as usual:

    @queues_blp.route("/<uuid:queue_id>")
    class QueueById(ItemView):
        blp, schema, update_schema = queues_blp, QueueSchema, QueueUpdateSchema
        ...

The views are made when the subclass is defined, decorated in the house's order, so that every
resource answers, and is documented, alike: the item's ETag is its `schema` dump; a `PATCH` checks
If-Match against the item as read, before anything changes; an unknown id answers 404 with the
resource's own message. A method a subclass writes itself is kept as written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema

from app.api_base import SelectPage


def found(item, message: str):
    """Return the item, or answer 404 with `message` when it is None."""
    if item is None:
        abort(404, message=message)
    return item


def _documented(function, text: str) -> None:
    # Before decorating: each decorator copies the docstring, and `require` adds to it.
    function.__doc__ = text


class CollectionView(MethodView):
    """`GET`: a page of `select(**query args)`; `POST` (with `create_schema`): `create(data)`."""

    blp: ClassVar[Any]
    schema: ClassVar[type[Schema]]
    # What POST answers (201); default `schema`.
    created_schema: ClassVar[type[Schema] | None] = None
    create_schema: ClassVar[type[Schema] | None] = None
    query_schema: ClassVar[type[Schema] | None] = None
    read: ClassVar[Callable]
    write: ClassVar[Callable | None] = None
    # Documents the 409 a POST answers, when it may.
    conflict: ClassVar[str | None] = None
    # Each method's docstring (summary, blank line, description).
    docs: ClassVar[Mapping[str, str]] = {}

    def select(self, **args):
        """The select to page through; `args` are the query's arguments."""
        raise NotImplementedError

    def create(self, data: dict, **path):
        """Create from the body; return what the 201 answers (or a flask response tuple)."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs):
        own = cls.__dict__
        if "blp" in own:
            blp = cls.blp
            if "get" not in own:
                cls.get = _collection_get(cls, blp, SelectPage)
            if cls.create_schema is not None and "post" not in own:
                cls.post = _collection_post(cls, blp)
        super().__init_subclass__(**kwargs)


def _collection_get(cls, blp, page):
    if cls.query_schema is not None:

        def get(self, args, **path):
            return self.select(**args)

        _documented(get, cls.docs["get"])
        view = blp.paginate(page)(get)
        view = blp.response(200, cls.schema(many=True))(view)
        view = blp.arguments(cls.query_schema, location="query")(view)
    else:

        def get(self, **path):
            return self.select()

        _documented(get, cls.docs["get"])
        view = blp.response(200, cls.schema(many=True))(blp.paginate(page)(get))
    return cls.read(view)


def _collection_post(cls, blp):
    def post(self, data, **path):
        return self.create(data, **path)

    _documented(post, cls.docs["post"])
    view = post
    if cls.conflict is not None:
        view = blp.alt_response(409, description=cls.conflict)(view)
    view = blp.response(201, cls.created_schema or cls.schema)(view)
    view = blp.arguments(cls.create_schema)(view)
    return cls.write(view)


class ItemView(MethodView):
    """`GET` the item (with its ETag); `PATCH` (with `update_schema`) it after checking If-Match;
    `DELETE` it (when the subclass defines `delete_item`)."""

    blp: ClassVar[Any]
    schema: ClassVar[type[Schema]]
    update_schema: ClassVar[type[Schema] | None] = None
    # What PATCH answers; default `schema`. Its ETag is always the item's `schema` dump.
    written_schema: ClassVar[type[Schema] | None] = None
    read: ClassVar[Callable]
    write: ClassVar[Callable | None] = None
    # Documents the 409 a PATCH answers, when it may.
    conflict: ClassVar[str | None] = None
    docs: ClassVar[Mapping[str, str]] = {}

    def item(self, **path):
        """The item the path names, or a 404 (see `found`)."""
        raise NotImplementedError

    def vet(self, item, data: dict) -> None:
        """Refuse a PATCH by a rule of the resource's own, before If-Match is checked."""

    def update(self, item, data: dict):
        """Apply the PATCH body; return the item as changed."""
        raise NotImplementedError

    def written(self, item):
        """What PATCH answers for the changed item (by default, the item)."""
        return item

    delete_item: ClassVar[Callable | None] = None

    def __init_subclass__(cls, **kwargs):
        own = cls.__dict__
        if "blp" in own:
            if "get" not in own:
                cls.get = _item_get(cls, cls.blp)
            if cls.update_schema is not None and "patch" not in own:
                cls.patch = _item_patch(cls, cls.blp)
            if cls.delete_item is not None and "delete" not in own:
                cls.delete = _item_delete(cls, cls.blp)
        super().__init_subclass__(**kwargs)


def _item_get(cls, blp):
    def get(self, **path):
        return self.item(**path)

    _documented(get, cls.docs["get"])
    return cls.read(blp.etag(blp.response(200, cls.schema)(get)))


def _item_patch(cls, blp):
    def patch(self, data, **path):
        item = self.item(**path)
        self.vet(item, data)
        blp.check_etag(item, cls.schema)
        item = self.update(item, data)
        # The answer may carry more than the item (see `written`): its ETag stays a read's.
        blp.set_etag(item, cls.schema)
        return self.written(item)

    _documented(patch, cls.docs["patch"])
    view = patch
    if cls.conflict is not None:
        view = blp.alt_response(409, description=cls.conflict)(view)
    view = blp.response(200, cls.written_schema or cls.schema)(view)
    view = blp.arguments(cls.update_schema)(view)
    return cls.write(blp.etag(view))


def _item_delete(cls, blp):
    def delete(self, **path):
        self.delete_item(self.item(**path))

    _documented(delete, cls.docs["delete"])
    return cls.write(blp.response(204)(delete))
