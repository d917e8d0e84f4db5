"""The ML-potential funnel's compute side: universal ML potentials (``models``), their
relaxation with Matbench Discovery's protocol (``relax``), elemental references
(``references``), the ML convex hull (``hull``) and the screen (``screen``).

See docs/funnel.md. Nothing here imports torch until a model is loaded.
"""
