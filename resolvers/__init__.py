"""Thin Lambda entry points, one module per domain area (Powertools AppSyncResolver)."""
