"""The SQL store: table definitions (``models``) and engines/sessions (``session``)."""
