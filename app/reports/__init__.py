"""Reports: SLA and KPI reports computed in the database, per tenant and across the BPO. Built
by the SLA issue."""
