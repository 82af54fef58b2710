"""Notifications: what happened, told to whom it concerns, in the app and by SMS or WeChat."""
