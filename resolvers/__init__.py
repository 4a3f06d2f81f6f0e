"""Thin Lambda entry points, one module per domain area (cloudchat.api.Resolver routes)."""
