"""Category classification: a spaCy text classifier (bag of words), trained on the town's messages."""
