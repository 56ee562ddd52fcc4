"""The models' answers in each answer format, their grading, and the judge of open answers."""
