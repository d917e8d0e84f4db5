"""htflow: high-throughput DFT campaigns on SLURM clusters."""

from htflow.exceptions import HtflowError

__all__ = ["HtflowError"]
__version__ = "0.1.0"
