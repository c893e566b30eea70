"""Outbound campaigns: records to contact, calling windows, dispositions, the do-not-contact
register."""
