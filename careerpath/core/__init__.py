"""The catalog and its text format, cleaning, the progression graph and the one gap rule, profiles, configs, metrics, shared helpers."""
