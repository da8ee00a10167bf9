"""The original's mCE entrypoint, kept so its scripts run unchanged (eval_robustness.py)."""
