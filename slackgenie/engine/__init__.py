"""Running passes: one pass, the daemon loop, heads-ups, the shifts people ask for, the state file."""
