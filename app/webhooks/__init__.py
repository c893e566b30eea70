"""Webhooks: the firm's endpoints, their signed deliveries and the delivery log."""
