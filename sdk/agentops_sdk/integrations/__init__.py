"""Adapters that record what agent frameworks do into an AgentOps session.

Each adapter lives in its own module and needs its framework installed, through the extra of
the same name (``pip install 'agentops-sdk[langchain]'``); importing this package needs none.
"""
