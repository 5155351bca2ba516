"""Scenario simulator: true events along a contact line and what a monitoring network reports."""
