"""Project datasets: kedro-mlflow's, adapted where the project needs it."""

from socialml.datasets.mlflow_metrics import MlflowMetricsDataset

__all__ = ["MlflowMetricsDataset"]
