"""Onboarding: a client firm and everything it runs on, created in one call.

A flow across domains (tenants, sla, queues, contacts, billing), so it sits above them: no
domain imports it.
"""
