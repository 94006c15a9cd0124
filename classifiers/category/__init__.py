"""Category classification: a spaCy text classifier (bag of words) with a word-vector second opinion, trained on
the town's messages."""
