"""Demo rings above the single case, made through the real services so that the console shows
the layer on first start: a gift-card scam ring sharing devices and a card (two of its
accounts banned), a copy-paste spam wave, a ban evader flagged at intake, a carrier NAT
address shared by dozens of ordinary accounts (a hub), and a senior's investigation file on
the ring. The cluster job runs at the end, as beat would."""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from cases.demo import _shift
from cases.intake import report_submit_batch
from cases.models import Case, CaseLink
from enforcement import services as enforcement
from tsops.demo import step

RING_SIZE = 8
SPAM_WAVE = 25
HUB_ACCOUNTS = 64
RING_DEVICES = ("ios-7f3a19c2-gc", "android-51d0e8aa-gc")
RING_CARD = "5500 0000 0000 7713"
NAT_IP = "100.64.12.1"
LISTINGS = [
    "iPhone 15 Pro 256GB sealed, {price} EUR. Payment by Apple or Steam gift cards only, send "
    "the codes by message and I ship today",
    "PS5 Slim bundle with two controllers, {price} EUR. Gift cards only (Apple, Steam, Google "
    "Play), send the codes in chat",
    "MacBook Air M3 brand new, {price} EUR, I accept gift card codes only, message me the codes",
]
SPAM = (
    "Congratulations! You have been selected for our {brand} loyalty reward. Claim your free "
    "{prize} at {site} before midnight, only {n} left!"
)
# Ordinary accounts behind one carrier NAT address: each says something of its own.
HUB_REASONS = ("spam", "misinformation", "other", "harassment")
HUB_SENTENCES = (
    "Selling my old bike, barely used",
    "Anyone up for football on Sunday morning?",
    "The new bakery on the corner is worth a visit",
    "Lost a grey cat near the station, please share",
    "My exam results are finally out",
    "Who else watched the match last night?",
    "Looking for a flat to share from March",
    "The bus drivers are on strike again tomorrow",
    "Best ramen in town, fight me",
    "Concert tickets for Friday, face value only",
    "Does anyone know a good dentist?",
    "Our choir sings at the town hall on Saturday",
    "Rain all week, of course",
    "Free sofa, you collect",
    "Happy birthday to my little sister",
    "The library extended its opening hours",
    "Trying a new running route along the river",
    "Garage sale this weekend, lots of books",
    "Power cut in the north district again",
    "Finally fixed my phone screen",
)


def _report(n: str, reason: str, subject: dict, identifiers: dict, **extra) -> dict:
    return {
        "source": extra.pop("source", "user_report"),
        "external_id": f"demo-above-{n}",
        "reason": reason,
        "description": extra.pop("description", ""),
        "reporter_id": extra.pop("reporter_id", f"user-r{n}"),
        "subject": subject,
        "identifiers": [{"kind": k, "value": v} for k, v in identifiers.items()],
        **extra,
    }


def _submit(platform, items: list[dict], age: timedelta) -> list[Case]:
    """Intake a batch as if it arrived ``age`` ago; its cases, in the items' order."""
    with transaction.atomic():
        results = report_submit_batch(actor=platform, items=items)
        case_ids = [r.case_id for r in results]
        _shift(sorted(set(case_ids)), [r.report_id for r in results if r.report_id], age)
    cases = Case.objects.in_bulk(case_ids)
    return [cases[pk] for pk in case_ids]


def _ban(senior, case: Case, rationale: str, at) -> None:
    case.refresh_from_db()
    enforcement.decision_make(
        actor=senior,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section=_section(case.reason),
        rationale=rationale,
        actions=[{"type": "remove_content"}, {"type": "ban"}]
        if case.subject.kind != "account"
        else [{"type": "ban"}],
        at=at,
    )


def _section(reason: str) -> str:
    from enforcement.selectors import policy_sections_for_reason

    return policy_sections_for_reason(reason)[0].code


def _gift_card_ring(platform, senior, rng, now) -> list[Case]:
    items = []
    for i in range(RING_SIZE):
        account = f"acct-gc-{i + 1:02d}"
        identifiers = {"email": f"deals.{i + 1}.{rng.randrange(900) + 100}@mail.example"}
        identifiers["device"] = RING_DEVICES[0] if i < 5 else RING_DEVICES[1]
        if i >= 2:
            identifiers["payment"] = RING_CARD
        items.append(
            _report(
                f"gc-{i}",
                "scam_fraud",
                {
                    "kind": "listing",
                    "external_id": f"listing-gc-{i + 1:02d}",
                    "owner_id": account,
                    "text": LISTINGS[i % len(LISTINGS)].format(price=380 + 15 * i),
                    "url": f"https://platform.example/listing/gc-{i + 1:02d}",
                },
                identifiers,
                description="Seller asked for gift card codes and never shipped",
            )
        )
    cases = _submit(platform, items, timedelta(days=3, hours=5))
    for case in cases[:2]:
        _ban(
            senior,
            case,
            "Gift-card scam confirmed: three buyers sent codes, nothing shipped; the device "
            "and card recur across the marketplace.",
            case.created_at + timedelta(hours=3),
        )
    return cases


def _spam_wave(platform, rng, size: int) -> None:
    brands = ["ShopMart", "ShopMart", "Shop-Mart"]
    items = []
    for i in range(size):
        text = SPAM.format(
            brand=rng.choice(brands),
            prize=rng.choice(["gift card", "giftcard"]),
            site=f"shopmart-rewards{rng.choice(['', '-eu', '-club'])}.example",
            n=rng.randrange(3, 9),
        )
        account = f"acct-promo-{i + 1:03d}"
        items.append(
            _report(
                f"spam-{i}",
                "spam",
                {
                    "kind": "content",
                    "external_id": f"post-promo-{i + 1:03d}",
                    "owner_id": account,
                    "text": text,
                    "url": f"https://platform.example/p/promo-{i + 1:03d}",
                },
                {"email": f"{account}@mail.example"},
                source="automated_flag",
                detector="spamnet-v3",
                score=round(rng.uniform(0.7, 0.97), 3),
                reporter_id="",
            )
        )
    # Posted within a few hours, reported as they went up.
    for start in range(0, size, 5):
        _submit(platform, items[start : start + 5], timedelta(hours=9 - start // 5))


def _evader(platform, senior, now) -> Case:
    device, email = "android-e1b2c3d4-ev", "night.owl.trader@mail.example"
    old = _submit(
        platform,
        [
            _report(
                "ev-old",
                "harassment",
                {
                    "kind": "content",
                    "external_id": "post-ev-old",
                    "owner_id": "acct-nightowl",
                    "text": "You will regret reporting me. I know your school.",
                },
                {"device": device, "email": email, "ip": "198.51.100.23"},
            )
        ],
        timedelta(days=6),
    )[0]
    _ban(
        senior,
        old,
        "Targeted harassment with a threat after a warning: permanent removal.",
        old.created_at + timedelta(hours=2),
    )
    # Days after the ban, a new account on the same phone and e-mail is reported.
    return _submit(
        platform,
        [
            _report(
                "ev-new",
                "harassment",
                {
                    "kind": "content",
                    "external_id": "post-ev-new",
                    "owner_id": "acct-nightowl-2",
                    "text": "Back again. Reporting me does nothing.",
                },
                {"device": device, "email": email, "ip": "203.0.113.77"},
            )
        ],
        timedelta(hours=5),
    )[0]


def _hub(platform, rng, size: int) -> None:
    items = []
    for i in range(size):
        reason = rng.choice(HUB_REASONS)
        account = f"acct-mobile-{i + 1:03d}"
        text = ". ".join(rng.sample(HUB_SENTENCES, 3)) + "."
        items.append(
            _report(
                f"hub-{i}",
                reason,
                {
                    "kind": "content",
                    "external_id": f"post-mobile-{i + 1:03d}",
                    "owner_id": account,
                    "text": text,
                },
                {"ip": NAT_IP, "email": f"{account}@mail.example"},
            )
        )
    _submit(platform, items, timedelta(days=1, hours=rng.randrange(12)))


def _investigation(senior, analyst, ring: list[Case]) -> None:
    from investigations.models import Cluster
    from investigations.services import files

    accounts = [case.subject.owner.external_id for case in ring]
    cluster = (
        Cluster.objects.filter(members__subject__external_id=accounts[0], origin="identifiers")
        .order_by("-size")
        .first()
    )
    investigation = files.investigation_create(
        actor=senior,
        title="Gift-card scam ring on marketplace listings",
        hypothesis="One operator runs at least eight seller accounts from two phones and pays "
        "fees with one card; buyers are told to pay in gift card codes and nothing ships.",
        links=files.Links(
            accounts=accounts,
            cases=[case.pk for case in ring],
            clusters=[cluster.pk] if cluster else [],
        ),
        members=[analyst.username],
    )
    files.investigation_note_add(
        actor=senior,
        investigation_id=investigation.pk,
        body="Two sellers banned after buyer complaints; the other six share their devices.",
    )
    files.investigation_note_add(
        actor=analyst,
        investigation_id=investigation.pk,
        body="Card 5500…7713 pays the listing fees of six accounts.",
    )
    files.investigation_update(
        actor=senior,
        investigation_id=investigation.pk,
        version=investigation.version,
        findings="Confirmed: shared devices and one payment card link all eight accounts. "
        "Recommend a wave ban of the remaining six.",
    )


@step("rings and investigations", before="metrics")
def seed_rings(*, stdout, scale: float) -> None:
    users = get_user_model().objects
    platform = users.get(username="platform")
    senior = users.get(username="senior")
    analyst = users.get(username="analyst")
    rng = random.Random(1616)  # noqa: S311 - reproducible demo data
    now = timezone.now()
    ring = _gift_card_ring(platform, senior, rng, now)
    _spam_wave(platform, rng, max(6, round(SPAM_WAVE * min(scale, 1))))
    evader = _evader(platform, senior, now)
    _hub(platform, rng, max(30, round(HUB_ACCOUNTS * min(scale, 1))))
    from investigations.services.clusters import clusters_find

    found = clusters_find()
    _investigation(senior, analyst, ring)
    flagged = CaseLink.objects.filter(from_case=evader, kind=CaseLink.Kind.EVASION_SUSPECT)
    stdout.write(
        f"  rings: gift-card ring of {len(ring)}, a spam wave, an evader "
        f"({'flagged' if flagged.exists() else 'not flagged'}), a carrier NAT hub; "
        f"cluster job: {found.get('identifiers', {}).get('created', '?')} identifier and "
        f"{found.get('content', {}).get('created', '?')} content clusters created\n"
    )
