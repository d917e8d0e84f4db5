"""The ``structures`` endpoint's collection: every request reads the materials collection.

There is no copy and no index to refresh. A request's filter becomes a MongoDB filter on
the materials document (:mod:`htflow.optimade.filters`), which runs where htflow's own
query runs it:

- MongoDB: ``find``/``count_documents`` on the materials collection, sorted, skipped and
  limited by the server;
- the embedded store: the ids come from :func:`htflow.db.access.select_materials` (SQL on
  the summary table the builder writes with each material, or the documents when the filter
  is beyond SQL), and the page's documents are read from the collection's SQLite file by
  ``_id`` (:func:`htflow.db.embedded.documents_by_id`). Each read is one SQLite transaction,
  so a material is served as soon as the builder has committed it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from optimade.exceptions import BadRequest
from optimade.filtertransformers.mongo import MongoTransformer
from optimade.models import StructureResource
from optimade.server.entry_collections import EntryCollection
from optimade.server.mappers import StructureMapper

from htflow.db.materials import MATERIALS_COLLECTION
from htflow.optimade.entries import MATERIALS_FIELDS, structure_entry
from htflow.optimade.fields import FORMULA_FIELD, sortable_fields
from htflow.optimade.filters import rewrite

if TYPE_CHECKING:
    from collections.abc import Iterable

    from optimade.server.config import ServerConfig
    from optimade.server.query_params import EntryListingQueryParams, SingleEntryQueryParams

    from htflow.db.uri import DbTarget

Sort = list[tuple[str, int]]


class MaterialsReader(Protocol):
    """What the collection needs from a store."""

    def count_all(self) -> int:
        """Number of materials."""
        ...

    def formulas(self) -> list[str]:
        """Distinct ``formula_reduced`` values."""
        ...

    def count(self, criteria: dict[str, Any]) -> int:
        """Number of materials matching ``criteria``."""
        ...

    def page(
        self, criteria: dict[str, Any], sort: Sort, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of matching materials documents (sorted, then by material_id), and the
        number of matches."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class MongoReader:
    """Reads a MongoDB materials collection (any pymongo-API collection)."""

    def __init__(self, collection: Any, client: Any = None) -> None:
        self.collection = collection
        self.client = client

    def count_all(self) -> int:
        return int(self.collection.estimated_document_count())

    def formulas(self) -> list[str]:
        return [f for f in self.collection.distinct(FORMULA_FIELD) if f]

    def count(self, criteria: dict[str, Any]) -> int:
        return int(self.collection.count_documents(criteria))

    def page(
        self, criteria: dict[str, Any], sort: Sort, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        projection = {f: 1 for f in MATERIALS_FIELDS} | {"_id": 0}
        order = [*sort, ("material_id", 1)]
        cursor = self.collection.find(criteria, projection).sort(order).skip(skip).limit(limit)
        return list(cursor), self.count(criteria)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


class EmbeddedReader:
    """Reads the embedded store: ids through htflow's query engine, documents by ``_id``."""

    def __init__(self, uri: str, target: DbTarget) -> None:
        self.uri = uri
        self.target = target

    def count_all(self) -> int:
        from htflow.db.embedded import count_documents

        assert self.target.path is not None
        return count_documents(self.target.path, self.target.database, MATERIALS_COLLECTION)

    def formulas(self) -> list[str]:
        from htflow.db.access import distinct_values

        return [str(f) for f in distinct_values(FORMULA_FIELD, self.uri)]

    def count(self, criteria: dict[str, Any]) -> int:
        from htflow.db.access import select_materials

        return len(select_materials(criteria, ["material_id"], self.uri))

    def page(
        self, criteria: dict[str, Any], sort: Sort, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        from htflow.db.access import select_materials
        from htflow.db.embedded import documents_by_id

        keys = [field for field, _ in sort]
        frame = select_materials(criteria, ["material_id", *keys], self.uri)
        if keys:
            frame = frame.sort_values(
                by=keys, ascending=[direction > 0 for _, direction in sort], kind="stable"
            )
        ids = frame["material_id"].tolist()[skip : skip + limit]
        assert self.target.path is not None
        found = documents_by_id(self.target.path, self.target.database, MATERIALS_COLLECTION, ids)
        return [found[i] for i in ids if i in found], len(frame)

    def close(self) -> None:
        return None


def open_reader(uri: str | None) -> MaterialsReader:
    """The reader of the configured database (``uri=None``: the settings' one).

    Raises
    ------
    DatabaseUnreachableError
        MongoDB does not answer.
    InputError
        The embedded store's directory does not exist.
    """
    from htflow.db.uri import resolve
    from htflow.exceptions import InputError

    target = resolve(uri)
    if target.kind == "mongodb":
        import pymongo

        from htflow.db.backends import SERVER_SELECTION_TIMEOUT_MS, _check_reachable

        _check_reachable(target)
        client: Any = pymongo.MongoClient(
            target.uri, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS
        )
        return MongoReader(client[target.database][MATERIALS_COLLECTION], client)
    assert target.path is not None
    if not target.path.is_dir():
        raise InputError(f"no embedded store at {target.path}: give --db or run a campaign first")
    return EmbeddedReader(target.uri, target)


class LiteralMongoTransformer(MongoTransformer):
    """optimade's transformer, with CONTAINS / STARTS WITH / ENDS WITH taken literally.

    optimade 1.5.0 puts the filter's string into ``$regex`` unescaped, so ``CONTAINS "a.b"``
    also matches ``axb`` and a parenthesis is a regex error (upstream bug; reported by the
    validator's optional tests on reference titles).
    """

    def fuzzy_string_op_rhs(self, arg: list[Any]) -> dict[str, str]:
        import re

        from lark import Token

        query: dict[str, str] = super().fuzzy_string_op_rhs(arg)
        pattern = arg[2] if isinstance(arg[1], Token) and arg[1].type == "WITH" else arg[1]
        literal = re.escape(str(pattern))
        if arg[0] == "STARTS":
            literal = f"^{literal}"
        elif arg[0] == "ENDS":
            literal = f"{literal}$"
        query["$regex"] = literal
        return query


class EntryMapper(StructureMapper):
    """The structures mapper, for entries that :func:`structure_entry` has already built."""

    def map_back(self, doc: dict[str, Any]) -> dict[str, Any]:
        return doc


class MaterialsCollection(EntryCollection):
    """The ``structures`` collection over the materials collection (read-only)."""

    def __init__(self, reader: MaterialsReader, config: ServerConfig) -> None:
        mapper = EntryMapper(config)
        super().__init__(StructureResource, mapper, LiteralMongoTransformer(mapper=mapper), config)
        self.reader = reader
        self._sortable = sortable_fields()

    def __len__(self) -> int:
        return self.reader.count_all()

    def count(self, **kwargs: Any) -> int | None:
        """Number of materials matching ``filter`` (a MongoDB filter on materials fields)."""
        return self.reader.count(kwargs.get("filter") or {})

    def insert(self, data: Iterable[Any]) -> None:
        """Never: the OPTIMADE API only reads."""
        raise NotImplementedError("the htflow OPTIMADE API is read-only")

    def handle_query_params(
        self, params: EntryListingQueryParams | SingleEntryQueryParams
    ) -> dict[str, Any]:
        """optimade's interpretation, then the filter rewritten onto stored fields."""
        criteria = super().handle_query_params(params)
        if "page_above" in criteria:
            raise NotImplementedError("page_above is not supported: use page_offset")
        criteria["filter"] = rewrite(criteria["filter"] or {}, self.reader.formulas)
        return criteria

    def parse_sort_params(self, sort_params: str) -> Sort:
        """Sorting on the stored scalar fields only (400 for the others)."""
        spec = list(super().parse_sort_params(sort_params))
        stored = set(self._sortable.values())
        refused = [self.resource_mapper.get_optimade_field(f) for f, _ in spec if f not in stored]
        if refused:
            raise BadRequest(
                detail=f"cannot sort on {', '.join(refused)}: sort on one of "
                f"{', '.join(sorted(self._sortable))}"
            )
        return spec

    def _run_db_query(
        self, criteria: dict[str, Any], single_entry: bool = False
    ) -> tuple[list[dict[str, Any]], int | None, bool]:
        skip = int(criteria.get("skip") or 0)
        limit = int(criteria.get("limit") or 0)
        docs, total = self.reader.page(
            criteria["filter"], list(criteria.get("sort") or []), skip, limit
        )
        entries = [structure_entry(doc) for doc in docs]
        if single_entry:
            return entries, len(entries), False
        return entries, total, skip + len(entries) < total
