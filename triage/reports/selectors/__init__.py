"""Reads of the reports, one module per report. Each is a few GROUP BY queries on
DecisionFact; Python only folds the aggregated rows (never one row per decision)."""
