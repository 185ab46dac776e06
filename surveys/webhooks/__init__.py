"""Outgoing webhooks: endpoints staff register, events written to an outbox in the transaction
of the change that causes them, signed POSTs by a Celery worker with retries, and the pages that
show every attempt. A low room: every room that emits may import it; it imports only models."""
