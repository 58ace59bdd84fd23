"""The project's own small language models: corpus, training, sampling."""
