"""Questions the environments app asks the apps built on it, which it never imports
(tests/test_layering.py): a receiver answers no by raising one of portal.errors."""

from django.dispatch import Signal

# Sent by environment_delete inside its transaction, with the environment's row locked (sender:
# Environment, environment=...): a receiver that knows of work still reading the environment
# refuses the delete. Whatever starts such work locks the same row, so the two never cross.
environment_deleting = Signal()
