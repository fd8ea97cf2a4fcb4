"""Reading the dashboard's Plotly figures back in tests: their data arrays, and how much of a map shows."""
import base64

import numpy as np


def plotly_array(value) -> np.ndarray:
    """A data array from a figure's JSON: a list, or plotly's typed-array encoding (dtype, bdata, shape)."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = [int(n) for n in str(value.get("shape", flat.size)).split(",")]
        return flat.reshape(shape)
    return np.asarray(value, dtype=np.float64)


def visible_fraction(z: np.ndarray, low: float, high: float) -> float:
    """The share of a map's pixels whose colour differs visibly from white on the scale [low, high]:
    beyond 5 % of the scale's end on their side."""
    return float(((z > 0.05 * high) | (z < 0.05 * low)).mean())
