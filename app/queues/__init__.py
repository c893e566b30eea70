"""Queues: each tenant's waiting lines, their routing rules and staffing. Built by the
onboarding issue."""
