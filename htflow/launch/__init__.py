"""The contract between the single writer and the compute side: no database import allowed.

- ``spec``: every key htflow writes into a Firework spec;
- ``launchdir``: the launch-directory JobStore (the files a job reads its inputs from and
  writes its outputs to; the agent seeds and harvests them);
- ``feed``: an allocation's work queue (the file protocol by which the agent feeds a running
  allocation);
- ``worker``: what a compute job runs (``python -m htflow.launch.worker``).

The agent (``htflow.agent``) and submission (``htflow.submit``) import this package; it
imports neither, nor ``htflow.db``.
"""
