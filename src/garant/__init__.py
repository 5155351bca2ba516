"""Garant: the information system of a ceasefire-guarantee regime."""

__version__ = "0.1.0"
