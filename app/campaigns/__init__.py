"""Outbound campaigns: records, calling windows, dispositions, do-not-contact registers."""
