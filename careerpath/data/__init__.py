"""Synthetic careers, the dataset build, the split reader, the feedback store."""
