"""E-mail notifications: the events that matter, mailed from the journal (docs/notifications.md)."""
