"""Domain events: what happened in a tenant, recorded once and read by many consumers."""
