"""Text-classification core of Assist: fits, predicts, scores and serialises models.
Plain Python and scikit-learn: no Django, no database, no settings."""
