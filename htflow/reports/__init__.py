"""Read-only reports over the database: campaign status, results tables and plots.

Nothing here takes the writer lock: the agent may be running while these read.
"""
