"""The web app: server-rendered pages for every role at `/`, one blueprint per area (sign-in,
the client firm's portal, the BPO's console) under one parent blueprint (app/web/shell.py).
Views call the same services and permission checks as the API; app/web/registry.py wires it."""
