"""``pipfresh update [NAME ...]``: scan, plan, confirm, then carry the plan out."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from pipfresh.cli.exitcodes import ExitCode
from pipfresh.cli.options import add_scan_options, add_verbose, config_from

if TYPE_CHECKING:
    from pipfresh.doctor.session import DoctorOutcome, TestEvent
    from pipfresh.environment import PendingInspection
    from pipfresh.plan import Plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="only update these packages (and whatever they then require); default: all",
    )
    add_scan_options(parser)
    upd = parser.add_argument_group("update")
    upd.add_argument(
        "--latest",
        action="store_true",
        help="move to the latest versions, not the wanted ones (conflicts are dropped)",
    )
    upd.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    upd.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    upd.add_argument(
        "--interactive",
        action="store_true",
        help="pick the packages to update from a list (needs a terminal)",
    )
    upd.add_argument(
        "--installer",
        choices=("auto", "uv", "pip"),
        default="auto",
        help="auto (default): uv when on PATH, else pip",
    )
    upd.add_argument(
        "--break-system-packages",
        action="store_true",
        help="allow changing an externally managed (PEP 668) environment",
    )
    _add_test_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=("table", "json", "freeze"),
        default="table",
        help="default: table; freeze: the plan's versions as name==version lines, "
        "one consistent set (pip install -r)",
    )
    add_verbose(out)


def _add_test_arguments(parser: argparse.ArgumentParser) -> None:
    test = parser.add_argument_group("tests (update --test)")
    test.add_argument(
        "--test",
        metavar="CMD",
        help="run CMD (through the shell, here, the environment's bin/ first on PATH) "
        "before and after; upgrades it fails with are found by bisection and reverted, "
        "the rest kept",
    )
    test.add_argument(
        "--test-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="a run of the tests taking longer fails",
    )
    test.add_argument(
        "--test-retries",
        type=_retries,
        default=0,
        metavar="N",
        help="rerun failing tests N times before counting them red (a unit that then "
        "passes is reported as flaky)",
    )
    test.add_argument(
        "--retry-broken",
        action="store_true",
        help="try again the versions that broke the tests of an earlier --test run",
    )


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _retries(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")
    return int(text)


def _test_document(tested: DoctorOutcome) -> dict[str, object]:
    """The ``test`` member of ``update --format json`` (schema in the README)."""
    return {
        "runs": tested.runs,
        "seconds": tested.test_seconds,
        "kept": [u.name for u in tested.kept],
        "culprits": [
            {
                "name": c.unit.name,
                "changes": [
                    {"name": ch.name, "before": ch.before, "attempted": ch.after}
                    for ch in c.unit.changes
                ]
                + [
                    {"name": a.name, "before": "", "attempted": a.version} for a in c.unit.additions
                ],
                "together_with": list(c.together_with),
                "failures": list(c.failures),
            }
            for c in tested.culprits
        ],
        "flaky": [u.name for u in tested.flaky],
        "final": {"passed": tested.final.passed, "seconds": round(tested.final.seconds, 3)},
    }


def _test_lines(tested: DoctorOutcome) -> list[str]:
    """The table summary of ``update --test``: culprits, flaky units, the cost."""
    lines: list[str] = []
    for culprit in tested.culprits:
        moved = ", ".join(f"{c.name} {c.before} -> {c.after}" for c in culprit.unit.changes)
        moved = moved or ", ".join(f"{a.name} (new) {a.version}" for a in culprit.unit.additions)
        extra = (
            f" (together with {', '.join(culprit.together_with)})" if culprit.together_with else ""
        )
        lines.append(f"reverted {moved}: breaks the tests{extra}")
        lines += [f"    {line}" for line in culprit.failures[:5]]
    for unit in tested.flaky:
        lines.append(f"left out {unit.name}: the tests were flaky with it (failed, then passed)")
    state = "green" if tested.final.passed else "red"
    lines.append(
        f"{tested.runs} test run{'s' * (tested.runs != 1)}, {tested.test_seconds:.1f} s in "
        f"tests; final run {state}"
    )
    return lines


def run(args: argparse.Namespace) -> int:
    from pipfresh.environment import start_inspection

    _check_update_options(args)
    with start_inspection(args.python) as inspection:
        return _update(args, inspection)


def _check_update_options(args: argparse.Namespace) -> None:
    """The usage errors of ``pipfresh update`` that need no scan."""
    from pipfresh.errors import UsageError

    interactive = sys.stdin.isatty()
    if args.interactive and args.dry_run:
        raise UsageError(
            "pipfresh update: --interactive cannot be used with --dry-run, "
            "which shows the whole plan"
        )
    if args.interactive and not interactive:
        raise UsageError(
            "pipfresh update --interactive needs a terminal (stdin is not one); "
            "pass -y to update everything, or name the packages to update"
        )
    if args.test is not None and args.dry_run:
        raise UsageError(
            "pipfresh update: --test cannot be used with --dry-run, which changes nothing"
        )
    if args.test is not None and not args.test.strip():
        raise UsageError("pipfresh update --test: the command is empty")
    if args.test is None and (args.test_timeout is not None or args.test_retries):
        raise UsageError("pipfresh update: --test-timeout and --test-retries need --test CMD")
    if not (args.dry_run or args.yes or interactive):
        raise UsageError(
            "pipfresh update needs a confirmation: pass -y to update without asking, "
            "or --dry-run to see the plan"
        )


def _update(args: argparse.Namespace, inspection: PendingInspection) -> int:
    """``pipfresh update``: scan, plan, confirm, then carry the plan out
    (:func:`_check_update_options` has passed)."""
    import json
    import time

    from pipfresh.api import UpdateResult, run_update
    from pipfresh.models import Report
    from pipfresh.plan import plan_document, plan_lines, stage_message
    from pipfresh.ui.safe import printable
    from pipfresh.ui.serialize import SCHEMA_VERSION, environment_dict
    from pipfresh.upgrade import Outcome, Terminated, outcome_document

    out = sys.stdout
    err = sys.stderr
    declined = False
    pending_plan: UpdateResult | None = None
    started: float | None = None  # when the first stage (the downloads) began
    # Once the install is being verified, an interrupt that reaches here came after the
    # commit (one before it is rolled back inside the update).
    verified = False

    def on_recovered(line: str) -> None:
        err.write(f"pipfresh: {printable(line)}\n")

    def on_report(report: Report, warnings: Sequence[str]) -> None:
        for warning in warnings:
            err.write(f"pipfresh: warning: {printable(warning)}\n")
        for error in report.errors:
            err.write(
                f"pipfresh: warning: could not check {printable(error.name)}: "
                f"{printable(error.reason)}\n"
            )

    def on_plan(pending: UpdateResult) -> bool:
        nonlocal declined, pending_plan
        pending_plan = pending  # for the stage lines
        for skipped in pending.skipped:
            err.write(
                f"pipfresh: left {printable(skipped)} alone: that version broke the tests "
                "(--retry-broken tries it again)\n"
            )
        plan = pending.plan
        if args.format == "table":
            out.write(
                f"Update plan for {pending.environment.prefix} (installer: {pending.installer})\n"
            )
            out.write("\n".join(map(printable, plan_lines(plan))) + "\n")
            out.flush()
        if args.dry_run or plan.empty or args.yes:
            return True
        if args.format != "table":
            err.write("\n".join(map(printable, plan_lines(plan))) + "\n")
        err.write("Proceed? [y/N] ")
        err.flush()
        declined = sys.stdin.readline().strip().lower() not in ("y", "yes")
        return not declined

    def choose(plan: Plan, offers: Mapping[str, tuple[str, ...]]) -> Iterable[str]:
        from pipfresh.ui.pick import pick
        from pipfresh.ui.picker import pick_on_terminal, terminal_ready

        if terminal_ready(sys.stdin, err):
            chosen = pick_on_terminal(plan, sys.stdin, err, offers)
            if chosen is not None:
                return chosen
        err.write("Upgrades that can be made:\n")
        rows = [
            printable(f"{c.name} {c.before} -> {c.after}" + (f" ({c.reason})" if c.reason else ""))
            for c in plan.changes
        ]
        picked = pick(rows, sys.stdin.readline, err.write)
        return [plan.changes[i].name for i in picked or ()]

    def on_output(line: str) -> None:
        if args.verbose:
            err.write(line)

    on_terminal = err.isatty()

    def on_stage(name: str) -> None:
        nonlocal started, verified
        verified = verified or name == "verify"
        if started is None:
            started = time.perf_counter()
        if args.verbose:
            err.write(f"pipfresh: {name} ({time.perf_counter() - started:.2f} s)\n")
        elif on_terminal and pending_plan is not None:
            line = stage_message(name, pending_plan.plan, pending_plan.installer)
            err.write(f"pipfresh: {printable(line)}\n")
            err.flush()

    def on_test(event: TestEvent) -> None:
        run = event.run
        verdict = "passed" if run.passed else f"failed ({run.summary()})"
        applied = f" with {', '.join(event.applied)}" if event.applied else ""
        if event.stage == "before":
            applied = " before the update"
        line = f"tests {verdict} in {run.seconds:.1f} s{applied}"
        err.write(f"pipfresh: {printable(line)}\n")
        err.flush()

    from pipfresh.doctor.session import TestsFailedBefore

    try:
        result = run_update(
            args.python,
            config_from(args),
            names=args.names,
            installer=args.installer,
            latest=args.latest,
            dry_run=args.dry_run,
            break_system_packages=args.break_system_packages,
            on_recovered=on_recovered,
            on_report=on_report,
            on_plan=on_plan,
            on_output=on_output,
            on_stage=on_stage,
            choose=choose if args.interactive else None,
            inspection=inspection,
            prefetch=args.yes and not args.interactive,
            test=args.test,
            test_timeout=args.test_timeout,
            test_retries=args.test_retries,
            retry_broken=args.retry_broken,
            on_test=on_test,
        )
    except TestsFailedBefore as exc:
        err.write(f"pipfresh: {printable(str(exc))}\n")
        err.write("".join(f"    {printable(line)}\n" for line in exc.run.tail[-20:]))
        return ExitCode.TESTS_FAILED
    except KeyboardInterrupt as exc:
        if started is None and not args.yes:
            raise
        # Once the stages began, only the downloads let an interrupt through: during
        # the install it is turned into a rollback (RolledBack). With -y, downloads
        # start while the plan is made; with --test, the first run of the tests comes
        # before any change.
        if verified and args.test is None:
            err.write("\npipfresh: interrupted after the update was complete; nothing was undone\n")
            return ExitCode.INTERRUPTED
        if args.test is not None:
            when = "before any change"
        else:
            when = "before the install" if started is None else "during the downloads"
        if isinstance(exc, Terminated):
            err.write(f"pipfresh: terminated {when}; nothing was changed\n")
        else:
            err.write(f"\npipfresh: interrupted {when}; nothing was changed\n")
        return ExitCode.INTERRUPTED
    if declined:
        err.write("pipfresh: nothing was changed\n")
        return ExitCode.OK
    if args.format == "freeze":
        out.write(freeze_plan(result.plan))
        return ExitCode.OK
    if args.format == "json":
        document: dict[str, object] = {
            "version": SCHEMA_VERSION,
            "environment": environment_dict(result.environment),
            "installer": result.installer,
            "dry_run": result.dry_run,
            "plan": plan_document(result.plan),
        }
        if result.changed:
            outcome = Outcome(result.results, result.installer, result.timings)
            document["result"] = outcome_document(outcome)
        if result.tested is not None:
            document["test"] = _test_document(result.tested)
        if result.skipped:
            document["skipped_broken"] = list(result.skipped)
        out.write(json.dumps(document, indent=2) + "\n")
        return ExitCode.OK
    if result.tested is not None:
        out.write("\n" + "\n".join(map(printable, _test_lines(result.tested))) + "\n")
    if not result.changed:
        return ExitCode.OK
    out.write("\n")
    width = max(len(r.name) for r in result.results)
    for change in result.results:
        moved = f"{change.before or '(new)'} -> {change.after}"
        out.write(printable(f"{change.name:<{width}}  {moved}  {change.status}") + "\n")
    shown = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    added = sum(1 for r in result.results if r.status == "added")
    counts = f"{len(result.results) - added} updated" + (f", {added} added" if added else "")
    out.write(f"{counts} with {result.installer} ({shown})\n")
    return ExitCode.OK


def freeze_plan(plan: Plan) -> str:
    """Every version the plan installs, sorted by name: one resolution, so the lines
    install together (unlike the scan's per-package wanted versions)."""
    pins = [(c.canonical_name, c.name, c.after) for c in plan.changes]
    pins += [(a.canonical_name, a.name, a.version) for a in plan.additions]
    return "".join(f"{name}=={version}\n" for _, name, version in sorted(pins))
