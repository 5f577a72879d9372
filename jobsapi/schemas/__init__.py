"""Marshmallow schemas: what every request body and response looks like."""
