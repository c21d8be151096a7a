"""Assist's product app: tickets in, suggestions out, decisions stored."""
