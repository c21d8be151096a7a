"""Supervisor reports: acceptance, per-category quality, confidence, errors, drift, agents.

Every report reads `DecisionFact`, one row per ticket's first decision, written
beside the decision by `services.decision_fact_record` and aggregated in the database.
"""
