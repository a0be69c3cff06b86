"""The HTTP kernel the adapters share: auth, scope, errors, JSON reading, telemetry."""
