"""Billing: rating handled contacts, invoices and the Stripe outbox. Only this package imports
`stripe`; domains call its public functions. Built by the billing issue."""
