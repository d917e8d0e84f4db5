"""The embedded store and the database-free worker of the agent tests."""

from tests.agent.conftest import agent_env, db_uri, jobstore, launchpad

__all__ = ["agent_env", "db_uri", "jobstore", "launchpad"]
