"""Skill tagging and clustering."""
