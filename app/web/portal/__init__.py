"""The client firm's portal: its SLA dashboard, contacts, registers, invoices and settings, at
`/firms/<tenant_id>/...`. A BPO admin or supervisor opens the same pages for the firms they see."""
