"""The task document's DOS and band-structure fields import pymatgen's modules only on use."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from pydantic import ValidationError

from htflow.qe.schemas import PwTaskDoc

HEAVY = (
    "pymatgen.electronic_structure.dos",
    "pymatgen.electronic_structure.bandstructure",
    "pymatgen.symmetry.analyzer",
    "scipy.signal",
)


def test_a_worker_running_pw_jobs_does_not_import_dos_or_band_structure_modules() -> None:
    # What a worker imports to run a static or a relaxation: the job code, the offline
    # Rocket and jobflow's Firetask. A task document with no DOS must not need the rest.
    code = (
        "import sys\n"
        "import htflow.qe.jobs, htflow.launch.worker\n"
        "import fireworks.core.rocket_launcher, jobflow.managers.fireworks\n"
        "from htflow.qe.schemas import PwTaskDoc\n"
        "PwTaskDoc(dir_name='/run', task_label='static')\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _dos(energies: np.ndarray) -> object:
    from pymatgen.electronic_structure.core import Spin
    from pymatgen.electronic_structure.dos import Dos

    return Dos(0.5, energies, {Spin.up: np.ones_like(energies)})


def test_dos_validates_from_an_instance_or_its_dict_form() -> None:
    from pymatgen.electronic_structure.dos import Dos

    dos = _dos(np.linspace(-1.0, 1.0, 5))
    assert PwTaskDoc(dir_name="/run", dos=dos).dos is dos
    from_dict = PwTaskDoc.model_validate({"dir_name": "/run", "dos": dos.as_dict()}).dos
    assert type(from_dict) is Dos
    assert np.allclose(from_dict.energies, dos.energies)
    restored = PwTaskDoc.model_validate_json(PwTaskDoc(dir_name="/run", dos=dos).model_dump_json())
    assert type(restored.dos) is Dos
    empty = PwTaskDoc(dir_name="/run")
    assert empty.dos is None and empty.band_structure is None


def test_a_wrong_value_names_the_expected_classes() -> None:
    with pytest.raises(ValidationError, match="expected a CompleteDos or Dos"):
        PwTaskDoc(dir_name="/run", dos="not a dos")
    with pytest.raises(ValidationError, match="expected a BandStructureSymmLine"):
        PwTaskDoc(dir_name="/run", band_structure=[1, 2, 3])


def test_json_schema_describes_the_fields_as_objects() -> None:
    schema = PwTaskDoc.model_json_schema()
    text = str(schema["properties"]["dos"])
    assert "CompleteDos" in text and "object" in text
