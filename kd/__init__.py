"""Teacher targets: teachers and ensembles, offline logits in side-car shards, and the
distillation loss's inputs (spec assemble-resnet.md §2 "Knowledge distillation")."""
