"""The accuracy gate: how much accuracy a converted variant may lose against its Keras original.

One policy and one default for ``digits-convert`` (a variant that fails is not shipped) and
``digits-bench`` (its row is marked failed), so the two never disagree about a model.
"""

from __future__ import annotations

#: Largest accuracy loss vs Keras a variant may have, in percentage points (``--max-drop``).
DEFAULT_MAX_DROP_PP = 0.1

# Accuracies are fractions of whole test sets: a loss of exactly the budget must pass even
# after the float arithmetic of turning them into percentage points.
_TOLERANCE_PP = 1e-9


def passes(delta_pp: float, max_drop_pp: float) -> bool:
    """Whether a variant whose accuracy moved by ``delta_pp`` points (vs Keras) passes."""
    return delta_pp >= -max_drop_pp - _TOLERANCE_PP


def gate_status(delta_pp: float, max_drop_pp: float) -> tuple[bool, str]:
    """``(passed, text)`` for one variant, the text as the reports print it."""
    if passes(delta_pp, max_drop_pp):
        return True, "PASS"
    return False, f"FAIL (lost {-delta_pp:.2f} pp > {max_drop_pp:g})"
