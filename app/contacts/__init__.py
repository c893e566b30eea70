"""Contacts: intake, lifecycle, routing and claim-next. Built by the contacts issue."""
