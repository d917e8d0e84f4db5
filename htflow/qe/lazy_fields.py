"""Pydantic fields for pymatgen objects whose modules are imported only when a value is set.

Every pw.x task document has a ``dos`` and a ``band_structure`` field, and almost every one
leaves them ``None``. pymatgen's DOS and band-structure modules import ``scipy.signal`` and
the symmetry analyser, about 0.9 s per process: that is paid at the start of every
allocation's worker even when it runs only statics and relaxations. These fields validate
like pymatgen's own (an instance, or its ``as_dict()`` form) but import the class on the
first value that is not ``None``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated, Any

from pydantic_core import core_schema

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue


class LazyMSONable:
    """Field metadata: the value is one of the named MSONable classes (``"module:Class"``).

    An instance passes as it is; a dict is built with ``from_dict`` of the class its
    ``@class`` names (the first class when it names none).
    """

    def __init__(self, *names: str) -> None:
        self.names = names

    def classes(self) -> tuple[type[Any], ...]:
        """The classes, imported now."""
        out = []
        for name in self.names:
            module, _, attribute = name.partition(":")
            out.append(getattr(importlib.import_module(module), attribute))
        return tuple(out)

    def validate(self, value: Any) -> Any:
        """The instance for ``value``; ValueError names the expected classes otherwise."""
        classes = self.classes()
        if isinstance(value, classes):
            return value
        if isinstance(value, dict):
            chosen = next((c for c in classes if c.__name__ == value.get("@class")), classes[0])
            return chosen.from_dict(value)
        expected = " or ".join(cls.__name__ for cls in classes)
        raise ValueError(f"expected a {expected} or its as_dict() form, got {type(value).__name__}")

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Plain validation by :meth:`validate` (no class import at model definition)."""
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """An object: the ``as_dict()`` form of one of the classes."""
        names = ", ".join(name.partition(":")[2] for name in self.names)
        return {"type": "object", "description": f"as_dict() of a pymatgen {names}"}


if TYPE_CHECKING:
    from pymatgen.electronic_structure.bandstructure import BandStructureSymmLine
    from pymatgen.electronic_structure.dos import CompleteDos, Dos

    DosField = CompleteDos | Dos
    BandStructureField = BandStructureSymmLine
else:
    DosField = Annotated[
        Any,
        LazyMSONable(
            "pymatgen.electronic_structure.dos:CompleteDos",
            "pymatgen.electronic_structure.dos:Dos",
        ),
    ]
    BandStructureField = Annotated[
        Any, LazyMSONable("pymatgen.electronic_structure.bandstructure:BandStructureSymmLine")
    ]
