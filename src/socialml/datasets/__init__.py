"""Project datasets: kedro-mlflow's, adapted where the project needs it, and tables on the engine."""

from socialml.datasets.engine_parquet import EngineParquetDataset
from socialml.datasets.mlflow_metrics import MlflowMetricsDataset

__all__ = ["EngineParquetDataset", "MlflowMetricsDataset"]
