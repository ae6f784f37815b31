"""What makes the dataset publishable: PII masking, decontamination, the dataset card, MLflow lineage."""
