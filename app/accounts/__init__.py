"""Accounts people can use: invitations and password resets, by single-use links sent by mail."""
