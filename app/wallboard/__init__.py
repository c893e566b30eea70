"""The supervisor's wallboard: a live snapshot of queues, agents and contacts at risk, per firm."""
