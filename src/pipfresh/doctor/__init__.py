"""``update --test CMD``: the parts that do not depend on carrying a plan out.

:mod:`~pipfresh.doctor.units` splits a plan into units that can be applied in any
combination, :mod:`~pipfresh.doctor.bisect` finds the units that break the tests,
:mod:`~pipfresh.doctor.runner` runs the test command in the target environment, and
:mod:`~pipfresh.doctor.memory` remembers culprits for the next scan and update.
"""
