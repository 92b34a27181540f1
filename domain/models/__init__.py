"""Models: uploaded teacher weights, checked against their architecture and stored (``uploaded_models``)."""
