"""Whole evaluations that reproduce the seeds' tables (used by the CLI and the dashboard)."""
