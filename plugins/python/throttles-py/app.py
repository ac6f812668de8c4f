"""throttles-py: the Python twin of plugins/rules/throttles (Rust).

Throttled invocations -> throttling, escalate: more memory never helps.
Same logic and the same findings as the Rust rule; only the name differs
("throttles-py"), since names must be unique among loaded rules.

Built with componentize-py against wit/rules.wit (autorepair:rules@0.2.3,
world `rule-plugin`): see ../build.sh. `wit_world` is generated at build time.
"""

import math

from wit_world import exports
from wit_world.imports.types import (
    Evidence,
    Finding,
    FindingKind,
    Recommendation_Escalate,
    RuleInfo,
    Wants,
)


def _series_points(evidence: Evidence, name: str):
    """Every finite point of the metric series named `name` (the SDK's series_points)."""
    for series in evidence.metrics:
        if series.name == name:
            for v in series.values:
                if math.isfinite(v):
                    yield v


def metric_sum(evidence: Evidence, name: str) -> float:
    """The SDK's metric_sum: a plain left-to-right f64 sum.

    Starts at +0.0 like the SDK's fold (so no series gives 0), and avoids Python's built-in sum(), which
    compensates rounding errors since 3.12 and so can differ from Rust's.
    """
    total = 0.0
    for v in _series_points(evidence, name):
        total += v
    return total


def metric_max(evidence: Evidence, name: str) -> float:
    """The SDK's metric_max: largest finite point, 0.0 when absent (fold(0.0, f64::max))."""
    peak = 0.0
    for v in _series_points(evidence, name):
        if v > peak:
            peak = v
    return peak


def fmt0(x: float) -> str:
    """Rust's `{:.0}` for an f64.

    Finite values: Python's `.0f` matches (both round the exact binary value,
    ties to even, Rust since 1.67; both keep "-0"). Non-finite ones (a sum can
    overflow) are spelt the Rust way: "inf", "-inf", "NaN".
    """
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.0f}"


# componentize-py's convention: the exported interface `autorepair:rules/rule`
# is implemented by a class named after it (`Rule`) in the app module.
# evaluate's `result<list<finding>, string>` maps to: return the list for ok;
# raise componentize_py_types.Err("why") for err (a rule-error). This rule,
# like its Rust twin, never errs.
class Rule(exports.Rule):
    def describe(self) -> RuleInfo:
        return RuleInfo(
            name="throttles-py",
            version="0.1.0",
            summary="Throttled invocations: a concurrency limit, never a memory problem",
            wants=Wants.METRICS | Wants.CONFIG,
        )

    def evaluate(self, evidence: Evidence) -> list[Finding]:
        throttles = metric_sum(evidence, "Throttles")
        alarm_on_throttles = evidence.alarm.metric == "Throttles"
        if throttles <= 0.0 and not alarm_on_throttles:
            return []
        invocations = metric_sum(evidence, "Invocations")
        finding = Finding(
            kind=FindingKind.THROTTLING,
            confidence=0.9 if throttles > 0.0 else 0.6,
            summary=f"{fmt0(throttles)} throttled invocations next to {fmt0(invocations)} served",
            evidence=[],
            recommendation=Recommendation_Escalate(
                "raise reserved or provisioned concurrency, or the account's concurrency limit; "
                "memory does not help"
            ),
        )
        finding.evidence.append(
            f"peak concurrent executions {fmt0(metric_max(evidence, 'ConcurrentExecutions'))}"
        )
        return [finding]
