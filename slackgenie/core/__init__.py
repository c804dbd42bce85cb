"""The pure core: value types, planning, rotation maths, shifts. No I/O, no SDK (checked by lint-imports)."""
