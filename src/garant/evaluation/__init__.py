"""Scoring a pipeline's output against a simulation's truth (`garant eval`)."""
