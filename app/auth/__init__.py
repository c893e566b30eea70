"""Authentication and authorization: Switchboard's own OAuth 2.0 server and what guards the API."""
