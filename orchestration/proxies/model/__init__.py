"""The model proxy: the only holder of the model API key; meters and caps each task's spend."""
