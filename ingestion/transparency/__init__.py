"""The service-wide transparency log of seals (RFC 9162)."""
