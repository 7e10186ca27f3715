"""Statistics of the measurements: medians, percentiles, bootstrap intervals of medians
and of ratios of medians (seeded: the same numbers give the same interval)."""

import random
import statistics

def median(xs):
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """Nearest-rank percentile."""
    xs = sorted(xs)
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


def ratio_ci(xs, bases, level=0.95, rounds=2000):
    """Bootstrap interval of median(xs) / median(bases): how far the noise of the machine
    leaves the ratio undecided. Seeded: the same numbers give the same interval."""
    if len(xs) < 3 or len(bases) < 3:
        return None
    rng = random.Random(7)
    ratios = sorted(statistics.median(rng.choices(xs, k=len(xs))) /
                    statistics.median(rng.choices(bases, k=len(bases))) for _ in range(rounds))
    cut = int(rounds * (1 - level) / 2)
    return ratios[cut], ratios[-cut - 1]


def median_ci(xs, level=0.95, rounds=2000):
    """Bootstrap interval of median(xs), seeded."""
    if len(xs) < 3:
        return None
    rng = random.Random(7)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(rounds))
    cut = int(rounds * (1 - level) / 2)
    return meds[cut], meds[-cut - 1]
