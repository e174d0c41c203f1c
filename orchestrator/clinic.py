"""The sample clinic: simulated bots and the arrival of referrals over working days.

Everything is drawn from seeded generators, so a seed fixes the whole month: arrivals, who
the patients are, how long each payer's portal takes and when it fails.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from orchestrator.bots import BotContext, BotRegistry
from orchestrator.errors import ApplicationException, BusinessException
from orchestrator.playbook import Playbook, load_playbook

PLAYBOOK_DIR = Path(__file__).parent / "playbooks"
REFERRAL_PLAYBOOK = PLAYBOOK_DIR / "referral.yaml"
#: The clinic's five workflows, in the order a case passes through them.
WORKFLOWS = ("referral", "eligibility", "prior_auth", "scheduling", "claims")


@dataclasses.dataclass(frozen=True)
class Payer:
    """A payer and its portal's behaviour."""

    name: str
    share: float
    portal_latency_s: float
    portal_failure: float
    prior_auth_required: float


PAYERS: tuple[Payer, ...] = (
    Payer("Northwind Health", 0.35, 70.0, 0.03, 0.55),
    Payer("Summit Mutual", 0.25, 160.0, 0.09, 0.70),
    Payer("State Medicaid", 0.20, 240.0, 0.05, 0.45),
    Payer("Medicare", 0.20, 90.0, 0.02, 0.35),
)
SITES: tuple[tuple[str, float], ...] = (("Main Clinic", 0.5), ("Eastside", 0.3), ("Westgate", 0.2))
#: Relative referral volume by hour of a weekday (faxes arrive in the morning).
HOURLY_WEIGHT: dict[int, float] = {
    7: 0.3, 8: 1.0, 9: 1.6, 10: 1.5, 11: 1.2, 12: 0.7, 13: 1.1, 14: 1.3, 15: 1.0, 16: 0.7,
    17: 0.3,
}  # fmt: skip
OFF_HOURS_WEIGHT = 0.04
WEEKEND_FACTOR = 0.12
#: Bots per queue.
CAPACITY: dict[str, int] = {
    "intake": 2, "registration": 1, "eligibility": 2, "pa_rules": 1, "prior_auth": 1,
    "pa_status": 1, "scheduling": 2, "claims": 2,
}  # fmt: skip
FIRST_NAMES = ("Maria", "James", "Aisha", "Wei", "Olga", "Diego", "Fatima", "John", "Priya", "Sam")
LAST_NAMES = ("Garcia", "Smith", "Okafor", "Chen", "Ivanova", "Lopez", "Haddad", "Brown", "Patel")


#: Chance that a payer's portal has an outage on a given day, and the failure rate during it.
OUTAGE_CHANCE = 0.12
OUTAGE_FAILURE = 0.85


@functools.lru_cache(maxsize=4096)
def outage_window(seed: int, payer: str, day: date) -> tuple[datetime, datetime] | None:
    """The hours a payer's portal is down on ``day``, if it is: outages cluster failures,
    which is what makes retries escalate and queues age in a real clinic."""
    rng = random.Random(f"outage:{seed}:{payer}:{day.isoformat()}")
    if rng.random() >= OUTAGE_CHANCE:
        return None
    begin = datetime.combine(day, time(8), tzinfo=UTC) + timedelta(hours=rng.uniform(0, 8))
    return begin, begin + timedelta(hours=rng.uniform(1, 4))


@dataclasses.dataclass(frozen=True)
class Outage:
    """A payer's portal hanging (every call runs into the step's timeout) for a while."""

    payer: str
    begin: datetime
    end: datetime


def _portal_failure(ctx: BotContext, payer: Payer, seed: int) -> float:
    now = ctx.clock.now()
    window = outage_window(seed, payer.name, now.date())
    if window is not None and window[0] <= now < window[1]:
        return OUTAGE_FAILURE
    return payer.portal_failure


def _hung(ctx: BotContext, payer: Payer, outages: tuple[Outage, ...], timeout_s: float) -> None:
    """In a scenario's outage the portal never answers: the bot waits until its timeout."""
    now = ctx.clock.now()
    for outage in outages:
        if outage.payer == payer.name and outage.begin <= now < outage.end:
            ctx.elapse(timeout_s + 1)
            raise ApplicationException("PortalTimeout", f"{payer.name} portal did not answer")


def _payer_of(ctx: BotContext) -> Payer:
    return next(p for p in PAYERS if p.name == ctx.payer)


def _lognormal(rng: random.Random, mean_s: float, sigma: float = 0.5) -> float:
    return rng.lognormvariate(math.log(mean_s) - sigma**2 / 2, sigma)


def clinic_bots(seed: int = 7, outages: tuple[Outage, ...] = ()) -> BotRegistry:
    """The clinic's bots; each spends simulated time and sometimes fails like the real one.

    ``seed`` fixes the days on which each payer's portal has a short outage; ``outages`` are
    a scenario's long ones.
    """
    bots = BotRegistry()

    @bots.register("intake_bot", "2.3.1")
    def intake(ctx: BotContext) -> str:
        ctx.elapse(_lognormal(ctx.rng, 75.0))
        if ctx.rng.random() < 0.03:
            raise ApplicationException("OcrError", "fax page unreadable")
        if ctx.rng.random() < 0.02:
            raise BusinessException("incomplete_referral")
        return "accepted"

    @bots.register("registration_bot", "1.1.0")
    def registration(ctx: BotContext) -> str:
        ctx.elapse(_lognormal(ctx.rng, 40.0))
        if ctx.rng.random() < 0.03:
            raise ApplicationException("EhrLocked", "patient chart locked by another user")
        return "registered"

    @bots.register("eligibility_bot", "1.8.0")
    def eligibility(ctx: BotContext) -> str:
        payer = _payer_of(ctx)
        _hung(ctx, payer, outages, 600)
        ctx.elapse(_lognormal(ctx.rng, payer.portal_latency_s, 0.6))
        if ctx.rng.random() < _portal_failure(ctx, payer, seed):
            raise ApplicationException("PortalTimeout", f"{payer.name} portal did not answer")
        if ctx.rng.random() < 0.04:
            raise BusinessException("inactive_coverage")
        return "active"

    @bots.register("pa_rules_bot", "0.4.0")
    def pa_rules(ctx: BotContext) -> str:
        ctx.elapse(_lognormal(ctx.rng, 20.0))
        return (
            "required" if ctx.rng.random() < _payer_of(ctx).prior_auth_required else "not_required"
        )

    @bots.register("prior_auth_bot", "0.9.4")
    def prior_auth(ctx: BotContext) -> str:
        payer = _payer_of(ctx)
        _hung(ctx, payer, outages, 1800)
        ctx.elapse(_lognormal(ctx.rng, 420.0, 0.5) + payer.portal_latency_s)
        if ctx.rng.random() < min(_portal_failure(ctx, payer, seed) * 1.5, 0.95):
            raise ApplicationException("PortalError", f"{payer.name} rejected the upload")
        return "submitted"

    @bots.register("pa_status_bot", "0.9.4")
    def pa_status(ctx: BotContext) -> str:
        payer = _payer_of(ctx)
        _hung(ctx, payer, outages, 600)
        ctx.elapse(_lognormal(ctx.rng, payer.portal_latency_s / 2))
        if ctx.rng.random() < 0.45:
            return "pending"
        return "denied" if ctx.rng.random() < 0.05 else "approved"

    @bots.register("scheduling_bot", "3.0.2")
    def scheduling(ctx: BotContext) -> str:
        ctx.elapse(_lognormal(ctx.rng, 150.0))
        if ctx.rng.random() < 0.04:
            raise ApplicationException("CalendarLocked", "EHR calendar locked by another user")
        return "booked"

    @bots.register("claims_bot", "1.2.0")
    def claims(ctx: BotContext) -> str:
        ctx.elapse(_lognormal(ctx.rng, 110.0))
        if ctx.rng.random() < 0.05:
            raise ApplicationException("ClearinghouseError", "clearinghouse returned 500")
        if ctx.rng.random() < 0.02:
            raise BusinessException("coding_error")
        return "submitted"

    return bots


def clinic_playbooks() -> list[Playbook]:
    """The five workflows of the sample clinic, referral first (where cases arrive)."""
    return [load_playbook(PLAYBOOK_DIR / f"{name}.yaml") for name in WORKFLOWS]


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    names, weights = zip(*options, strict=True)
    return rng.choices(names, weights=weights)[0]


def arrivals(
    start: datetime, days: float, per_weekday: float, seed: int
) -> Iterator[tuple[datetime, str, dict[str, Any]]]:
    """Referrals arriving over ``days`` from ``start``: (time, referral number, fields).

    Each hour's count is Poisson with the weekday profile above, so mornings peak and
    weekends are quiet. Patient details are made up and stay in the state store.
    """
    rng = random.Random(f"arrivals:{seed}")
    total_weight = sum(HOURLY_WEIGHT.get(h, OFF_HOURS_WEIGHT) for h in range(24))
    end = start + timedelta(days=days)
    hour = start.replace(minute=0, second=0, microsecond=0)
    number = 0
    payers = tuple((p.name, p.share) for p in PAYERS)
    while hour < end:
        rate = per_weekday * HOURLY_WEIGHT.get(hour.hour, OFF_HOURS_WEIGHT) / total_weight
        if hour.weekday() >= 5:
            rate *= WEEKEND_FACTOR
        times = sorted(rng.uniform(0, 3600) for _ in range(_poisson(rng, rate)))
        for offset in times:
            moment = hour + timedelta(seconds=offset)
            if not start <= moment < end:
                continue
            number += 1
            fields = {
                "payer": _pick(rng, payers),
                "site": _pick(rng, SITES),
                "priority": 1 if rng.random() < 0.1 else 5,
                "payload": {
                    "patient_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                    "mrn": f"MRN{rng.randrange(10**7):07d}",
                    "member_id": f"M{rng.randrange(10**9):09d}",
                    "dob": f"{rng.randrange(1935, 2020)}-{rng.randrange(1, 13):02d}-"
                    f"{rng.randrange(1, 29):02d}",
                },
            }
            yield moment, f"REF-{seed}-{number:06d}", fields
        hour += timedelta(hours=1)


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: exact and fast for the small hourly rates here."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
