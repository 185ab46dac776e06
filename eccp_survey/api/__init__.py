"""The conventions of the JSON API (/api/v1/), shared by every room's api.py: token
authentication, role-and-scope permissions, cursor pagination, one error body, per-token rate
limits and idempotency keys. Nothing here imports a room of surveys/: the rooms import this."""
