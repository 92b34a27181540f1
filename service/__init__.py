"""What the API and the workers share: settings, the SQL store, artifact storage, job records."""
