"""Quality monitoring: scorecards, evaluations, calibration and disputes (issue 18)."""
