"""MLflow metrics named by path, ``demo/topics/tfidf_logreg/micro_f1``, as MLflow's UI groups its charts."""

from __future__ import annotations

from typing import Any

from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset


class MlflowMetricsDataset(MlflowMetricsHistoryDataset):
    """kedro-mlflow's metrics history dataset whose prefix (a dataset namespace such as
    ``demo.cross_sell.ncf``) joins the metric name as a path: ``demo/cross_sell/ncf/auc_by_epoch``.

    A value is ``{"value": v, "step": s}`` or a list of them (a curve: one point per step).
    """

    def __init__(self, prefix: str | None = None, **kwargs: Any) -> None:
        super().__init__(prefix=prefix.replace(".", "/") if prefix else None, **kwargs)

    def _build_args_list_from_metric_item(self, key: str, value: Any):
        prefix, self._prefix = self._prefix, None  # the parent would join it with "."
        try:
            return list(super()._build_args_list_from_metric_item(f"{prefix}/{key}" if prefix else key, value))
        finally:
            self._prefix = prefix
