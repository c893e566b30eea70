"""The BPO's console: every firm side by side, onboarding, agents and assignments, billing,
staffing, at `/console/...`. BPO admins see every firm; supervisors the firms they supervise."""
