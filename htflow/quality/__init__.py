"""Quality of derived properties: self-checks, verification records and quality levels.

Pure functions over task and materials documents as stored (dicts); no database access
(the builders call them, :mod:`htflow.builders.quality`). See :mod:`htflow.quality.schema`
for what a quality value is.

- :mod:`~htflow.quality.energy`, :mod:`~htflow.quality.band_gap`, :mod:`~htflow.quality.dos`,
  :mod:`~htflow.quality.elastic`, :mod:`~htflow.quality.eos`: one module per property, each
  returning its checks and the settings behind the number;
- :mod:`~htflow.quality.formation`: a formation energy from its energies' qualities;
- :mod:`~htflow.quality.run_checks`: checks of single runs shared by those (convergence,
  k-point density against ``htflow/qe/sets/properties.yaml``, Fermi level and −TS);
- :mod:`~htflow.quality.task_view`: what the checks read from a pw.x or VASP task document;
- :mod:`~htflow.quality.levels`: checks → level; :mod:`~htflow.quality.verified` reads
  ``verified.yaml``; :mod:`~htflow.quality.tolerances` reads ``tolerances.yaml``.
"""
