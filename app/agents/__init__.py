"""Agents: BPO staff profiles, skills, queue assignments across tenants, presence and time
attribution. Built by the onboarding issue."""
