"""Every method's raw log-odds per cell, read by its scorer kind, temperature-scaled on the
calibration split; the free baselines."""
