"""HTTP routes, one module per resource; thin: validate, call a helper, answer."""
