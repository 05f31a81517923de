"""Getting a model: its lifecycle, the stores it comes from (GCS, MLflow's registry and artifact
proxy, a local path), and its file read."""
