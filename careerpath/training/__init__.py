"""Fine-tuning, and feedback as a training signal."""
