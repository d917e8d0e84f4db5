"""Pure-Python jobs for the offline-execution tests (importable by the worker and the agent)."""

from __future__ import annotations

from jobflow import Flow, Response, job


@job
def add(a: float, b: float) -> float:
    """a + b."""
    return a + b


@job
def add_twice_by_replace(a: float) -> Response:
    """Replace itself by a flow of two additions (exercises jobflow's replace response)."""
    first = add(a, 1)
    second = add(first.output, 1)
    return Response(replace=Flow([first, second], output=second.output))


def add_flow(a: float = 1, b: float = 2, c: float = 3) -> Flow:
    """(a + b) + c: the second job references the first one's output."""
    first = add(a, b)
    second = add(first.output, c)
    return Flow([first, second], output=second.output, name="add flow")


@job
def fail(message: str) -> None:
    """Always raises: a job that fizzles."""
    raise ValueError(message)


@job
def fan_out(values: list[float]) -> Response:
    """Replace itself by one addition per value; its output is the list of their outputs.

    This is the shape of the EOS and elastic flows: a consumer of this job's output needs
    the outputs of the replacing jobs too (references inside a reference).
    """
    jobs = [add(v, 1) for v in values]
    return Response(replace=Flow(jobs, output=[j.output for j in jobs]))


@job
def total(values: list[float]) -> float:
    """Sum of the values."""
    return sum(values)


def fan_out_flow(values: list[float]) -> Flow:
    """fan_out → total, like EosMaker's run_volume_points → fit_eos."""
    spread = fan_out(values)
    summed = total(spread.output)
    return Flow([spread, summed], output=summed.output, name="fan out")
