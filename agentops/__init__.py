"""AgentOps Replay, the service: ingestion, policy and compliance."""

#: The service's release, as the CHANGELOG's latest release heading names it. /healthz and
#: the OpenAPI schema report it.
__version__ = "1.0.0"
