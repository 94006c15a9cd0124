"""Built-in pipeline stages, one module per stage, named as in config.yaml; the registry imports them."""
