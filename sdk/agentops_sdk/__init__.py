"""AgentOps Replay SDK: record agent sessions as verifiable, hash-chained event logs."""

#: The SDK's release; its pyproject reads it from here, and it is the number of the latest
#: release in the repository's CHANGELOG.
__version__ = "1.0.0"
SDK_NAME = "agentops-sdk"
SOURCE_SDK_VER = f"{SDK_NAME}/{__version__}"

__all__ = ["SDK_NAME", "SOURCE_SDK_VER", "Client", "ClientConfig", "Session", "__version__"]


def __getattr__(name: str) -> object:
    # The recording client is imported on first use, so that code needing only the chain
    # rules or the verifier (the ingestion service, agentops-verify) does not load HTTP code.
    if name in ("Client", "Session"):
        from . import client

        return getattr(client, name)
    if name == "ClientConfig":
        from .config import ClientConfig

        return ClientConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
