"""PNG plot of the backtest: ROC curves and calibration curves of every scorer on the out-of-fold rows."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from ml.metrics import calibration_table  # noqa: E402


def backtest_plot_png(predictions: pd.DataFrame, scorers: tuple[str, ...]) -> bytes:
    """Return a PNG with the ROC curve (left) and calibration deciles (right) of each scorer."""
    figure, (roc_axis, calibration_axis) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=100)
    labels = predictions["label"].to_numpy()

    for scorer in scorers:
        scores = predictions[scorer].to_numpy()
        if len(set(labels)) == 2:
            false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
            roc_axis.plot(false_positive_rate, true_positive_rate, label=scorer)
        table = calibration_table(labels, scores)
        calibration_axis.plot(table["mean_predicted"], table["observed_rate"], marker="o", label=scorer)

    roc_axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
    roc_axis.set(title="ROC, out-of-fold", xlabel="false positive rate", ylabel="true positive rate")
    roc_axis.legend(loc="lower right")
    top = max(predictions[list(scorers)].to_numpy().max(), labels.mean() * 2, 0.05)
    calibration_axis.plot([0, top], [0, top], linestyle=":", color="grey")
    calibration_axis.set(title="Calibration by score decile", xlabel="mean predicted", ylabel="observed churn rate")
    calibration_axis.legend(loc="upper left")
    figure.tight_layout()

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
