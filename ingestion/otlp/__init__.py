"""OTLP/HTTP trace ingestion: spans from OpenTelemetry exporters become session events."""
