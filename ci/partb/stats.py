"""The statistics of ci/partb: medians, percentiles, spreads, saturation.

Pure functions on lists of numbers, with no I/O, so that the unit tests
(test_stats.py) can pin them on fixed inputs.
"""

import math


def percentile(values, p):
    """The p-th percentile (0 <= p <= 100) of values, interpolated linearly
    between the two nearest ranks (the "linear" method: rank p/100 * (n - 1)
    on the sorted values, counted from 0). Raises ValueError when empty."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0..100")
    ordered = sorted(values)
    rank = p / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values):
    """The middle value, or the mean of the two middle values."""
    return percentile(values, 50)


def summary(values):
    """Count, extremes, mean, quartiles and p10/p90 of values, as a dict.

    The spread reported beside a median is p10..p90 (and the interquartile
    range): robust to the odd outlier that a shared machine produces, unlike
    a standard deviation."""
    if not values:
        raise ValueError("summary of no values")
    return {
        "n": len(values),
        "min": min(values),
        "p10": percentile(values, 10),
        "p25": percentile(values, 25),
        "median": median(values),
        "p75": percentile(values, 75),
        "p90": percentile(values, 90),
        "max": max(values),
        "mean": sum(values) / len(values),
    }


def saturation(rps, gain=0.05, patience=2):
    """Where throughput stops rising, given requests/s at increasing load.

    The rule: a load level improves on the best so far only when it beats
    it by more than `gain` (5%: less is within the noise of a short run).
    Once `patience` levels in a row have not improved, the load is
    saturated: adding clients no longer buys throughput. The load driver
    stops there, so a run is bounded by the first plateau, not by the
    longest list of levels.

    Returns a dict:
      saturated   whether the plateau was reached within the levels given;
      best        index of the highest throughput of all the levels given
                  (the saturation throughput is rps[best]); the driver
                  may have measured levels past `stop` in another round;
      knee        index of the lowest load whose throughput is within
                  `gain` of the best: where saturation sets in;
      stop        index of the level where the rule says "saturated" (the
                  driver stops after it); the last index when not.
    """
    if not rps:
        raise ValueError("saturation of no measurements")
    leader = 0
    stale = 0
    stop = len(rps) - 1
    saturated = False
    for i in range(1, len(rps)):
        if rps[i] > rps[leader] * (1 + gain):
            leader = i
            stale = 0
        else:
            stale += 1
            if stale >= patience:
                saturated = True
                stop = i
                break
    best = max(range(len(rps)), key=lambda i: rps[i])
    knee = next(i for i, r in enumerate(rps) if r >= rps[best] * (1 - gain))
    return {"saturated": saturated, "best": best, "knee": knee, "stop": stop}


def fit_in_budget(budget, per_instance):
    """How many instances of per_instance bytes fit in budget bytes."""
    if per_instance <= 0:
        raise ValueError(f"an instance of {per_instance} bytes")
    return int(budget // per_instance)


def ratio(a, b):
    """a / b, or None when b is zero or either is missing."""
    if a is None or b is None or b == 0:
        return None
    return a / b
