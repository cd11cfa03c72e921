"""The raw-events application's agent and web views (discovered by `streams.raw_app`)."""
