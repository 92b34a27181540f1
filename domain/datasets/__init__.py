"""Datasets: uploaded archives extracted safely (``archives``), checked and stored (``uploaded_datasets``)."""
