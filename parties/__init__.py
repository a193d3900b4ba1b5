"""The party daemon: transport, control service, store, policy and data."""
