"""The agent: the one writer of the LaunchPad and the stores.

``htflow.agent.offline`` claims READY Fireworks into launch directories and ingests their
results; ``htflow.launch.worker`` runs a launch directory on a compute node, with no database.
"""
