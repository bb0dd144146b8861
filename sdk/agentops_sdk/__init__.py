"""AgentOps Replay SDK: record agent sessions as verifiable, hash-chained event logs."""

__version__ = "0.1.0"
SDK_NAME = "agentops-sdk"
SOURCE_SDK_VER = f"{SDK_NAME}/{__version__}"
