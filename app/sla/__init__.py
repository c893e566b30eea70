"""SLA: policies, business-time deadlines, breach detection. Built by the SLA issue."""
