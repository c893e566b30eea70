"""Tenancy: client firms, the people and clients acting on them, and the scoping layer that
keeps each firm's data apart. Imports no operations domain."""
