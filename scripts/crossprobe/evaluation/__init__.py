"""Metrics with bootstrap intervals, paired contrasts, the graders' agreement, and the markdown
tables."""
