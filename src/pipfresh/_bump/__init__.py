"""``pipfresh bump``: raise outdated version pins in dependency files.

Private (``_bump``) because the public function is ``pipfresh.bump``: a subpackage of
that name would become the attribute ``pipfresh.bump`` once imported and shadow it.

Two rooms, joined only by :mod:`pipfresh._bump.model`:

- the file side (no network): find and read the files, keep the exact source span of
  every specifier, compute a new specifier in the style written, rewrite, write
  atomically, diff;
- the index side: which release is eligible for each pin (the scan's selection rules,
  plus the project's own requires-python and markers), the report, the command.
"""
