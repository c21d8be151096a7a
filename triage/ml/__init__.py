"""Text-classification core of Assist: pipeline, suggestions, artifacts (no Django)."""
