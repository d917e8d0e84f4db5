"""Every key htflow writes into a Firework spec (jobflow's ``manager_config``), in one place.

Written at submit time and read by the agent, the worker, the reports and the builders, so
that none of them has to import the module that happens to write a key.
"""

from __future__ import annotations

# The campaign a job belongs to, and FireWorks' own priority key (higher runs first).
CAMPAIGN_KEY = "htflow_campaign"
PRIORITY_KEY = "_priority"
# The calculation's identity (formula, protocol, task, structure hash): the duplicate check.
IDENTITY_KEY = "htflow_identity"
# The jobflow uuid of the Firework's job (its outputs' key in the JobStore).
JOB_UUID_KEY = "htflow_job_uuid"
# Relaxations this Firework's job uses from another workflow instead of its own (job-level
# reuse, htflow.submit.reuse): [{"job_uuid", "fw_id", "replaced_job", "name", "state"}, ...].
REUSED_KEY = "htflow_reused"
# Which allocation type runs the job (small, large, ...), its resources, and FireWorks'
# category (a worker pulls only its own category).
JOB_TYPE_KEY = "htflow_job_type"
RESOURCES_KEY = "htflow_resources"
CATEGORY_KEY = "_category"
# The funnel's screen job (its output decides which candidates reach DFT), and the mark the
# agent sets once it has submitted the DFT flows of the kept candidates.
FUNNEL_KEY = "htflow_funnel"
FUNNEL_EXPANDED_KEY = "htflow_funnel_expanded"

__all__ = [
    "CAMPAIGN_KEY",
    "CATEGORY_KEY",
    "FUNNEL_EXPANDED_KEY",
    "FUNNEL_KEY",
    "IDENTITY_KEY",
    "JOB_TYPE_KEY",
    "JOB_UUID_KEY",
    "PRIORITY_KEY",
    "RESOURCES_KEY",
    "REUSED_KEY",
]
