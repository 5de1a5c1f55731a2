"""``manage.py seed_demo``: build (or top up) the demo manufacturer.

Runs every app's registered demo seeder (see :mod:`steelyard.core.demo`). Safe to run again:
existing records are kept and nothing is duplicated.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from steelyard.core.demo import DEFAULT_PASSWORD, DEFAULT_SEED, SCALES, run_demo


class Command(BaseCommand):
    help = (
        "Create the demo company 衡远重工集团 (Hengyuan Heavy Industries): org tree, people in every role, "
        "positions and qualifications, and what later modules add. Idempotent and deterministic by --seed. "
        "--scale M or L adds volume for benchmarks."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale", choices=SCALES, default="S", help="S = the demo (default); M, L = benchmarks."
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Random seed (default 42).")
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"Password of every demo user (default {DEFAULT_PASSWORD}).",
        )
        parser.add_argument("--only", nargs="*", help="Run only these seeders (by name).")

    def handle(self, *args: Any, **options: Any) -> None:
        from steelyard.org.demo import DEMO_LOGINS

        started = time.perf_counter()
        self.stdout.write(f"Seeding demo data: scale {options['scale']}, seed {options['seed']}")
        ctx = run_demo(
            scale=options["scale"],
            seed=options["seed"],
            password=options["password"],
            log=self.stdout.write,
            only=options["only"],
        )
        elapsed = time.perf_counter() - started
        if ctx.total_created:
            counts = ", ".join(f"{label}={n:,}" for label, n in sorted(ctx.created.items()))
            self.stdout.write(
                self.style.SUCCESS(f"Created {ctx.total_created:,} rows in {elapsed:.1f}s: {counts}")
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Nothing to do: the demo data is complete (created=0, {elapsed:.1f}s).")
            )
        if ctx.logins:
            self.stdout.write(f"\nDemo logins (password: {options['password']}):")
            for username, what in DEMO_LOGINS.items():
                user = ctx.logins.get(username)
                if user is not None:
                    self.stdout.write(f"  {username:<10} {user.display_name:<8} {what}")
