"""Errors shared by the API and the worker."""


class DependencyUnavailable(RuntimeError):
    """A store or broker the request needs did not answer in time (the API maps it to 503)."""

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency} unavailable: {reason}")
        self.dependency = dependency
        self.reason = reason
