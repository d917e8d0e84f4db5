"""Campaigns: a YAML spec → candidate structures → filtered, de-duplicated jobflow Flows.

See docs/campaigns.md. The pipeline is :func:`htflow.campaign.plan.plan_campaign`; the
campaign layer only plans: :func:`htflow.submit.campaign.submit_campaign` submits a plan
all-or-nothing (or queues it for the running agent).
"""

from __future__ import annotations

from htflow.campaign.candidate import Candidate
from htflow.campaign.spec import CampaignSpec, load_campaign, parse_campaign

__all__ = ["CampaignSpec", "Candidate", "load_campaign", "parse_campaign"]
