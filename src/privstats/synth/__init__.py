"""Synthetic microdata: synthesizers, utility and disclosure-risk reports."""
