"""Evaluation: matches against GTP engines, SQLite results, Bradley-Terry Elo, reports."""
