"""The recommender: catalog scoring into courses, jobs, pathways and explanations."""
