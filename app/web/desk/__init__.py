"""The agent's desk: one place for the work of every client firm the agent serves."""
