"""O*NET, ESCO and observed mobility."""
