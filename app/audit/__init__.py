"""Reading the audit log: the BPO admin's whole log and each client firm's own entries."""
