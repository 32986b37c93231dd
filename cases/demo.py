"""Demo cases: a month of a realistic operation, made through the real intake service."""

from __future__ import annotations

import io
import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from cases import services
from cases.intake import report_submit_batch
from cases.models import Case, Queue
from tsops.demo import step
from tsops.progress import Progress

DAYS = 30
BATCH = 250
# Where human reports come from: mostly users, some support tickets, a few internal reports and
# trusted flaggers' notices (counted apart in the transparency report).
HUMAN_SOURCES = ["user_report"] * 16 + ["support"] * 2 + ["internal", "trusted_flagger"]

TEXTS = {
    "spam": [
        "Earn $500/day from home!!! click bit.ly/xx now",
        "Follow for follow, free crypto giveaway, DM me",
        "Cheap designer bags, wholesale, message on WhatsApp",
    ],
    "scam_fraud": [
        "Send the deposit by gift card and I will ship the phone tomorrow",
        "Your account is locked, verify your card at secure-login-help.example",
        "Investment opportunity: guaranteed 40% monthly returns",
    ],
    "harassment": [
        "Nobody wants you here, log off forever",
        "Posting her photos again until she deletes her account",
    ],
    "hate": ["Those people are vermin and should be driven out"],
    "violent_threat": ["I know where you live and I'm coming with a knife tonight"],
    "child_safety": ["[reported media withheld: suspected CSAM indicator match]"],
    "self_harm": ["I can't do this anymore, tonight is the night"],
    "impersonation": ["Official support account — DM us your password to restore access"],
    "account_takeover": ["Login from new device followed by password and email change"],
    "doxxing": ["Here is his home address and his kids' school: 14 Elm Street"],
    "ip_infringement": ["Full movie stream HD, new release, no signup"],
    "illegal_goods": ["Selling prescription pills without prescription, discreet shipping"],
    "misinformation": ["Polling stations closed tomorrow, vote by text message instead"],
    "other": ["Something about this profile feels off"],
}
WEIGHTS = {
    "spam": 30,
    "scam_fraud": 12,
    "harassment": 12,
    "hate": 6,
    "violent_threat": 3,
    "child_safety": 2,
    "self_harm": 3,
    "impersonation": 6,
    "account_takeover": 4,
    "doxxing": 3,
    "ip_infringement": 6,
    "illegal_goods": 4,
    "misinformation": 5,
    "other": 4,
}
KINDS = ["content", "content", "content", "message", "listing", "profile", "account"]


class _Generator:
    def __init__(self, rng: random.Random, target_cases: int):
        self.rng = rng
        self.n = 0
        # Repeat offenders own many subjects; clusters share devices, IPs and payment cards.
        self.offenders = [f"acct-repeat-{i}" for i in range(40)]
        self.clusters = [
            {
                "device": f"device-{c:04d}-{rng.randrange(16**8):08x}",
                "ip": f"198.51.{c % 256}.{rng.randrange(1, 255)}",
                "payment": f"4111 1111 1111 {rng.randrange(10000):04d}",
            }
            for c in range(60)
        ]
        self.accounts = max(target_cases // 3, 100)

    def _account(self) -> str:
        if self.rng.random() < 0.18:
            return self.rng.choice(self.offenders)
        return f"acct-{self.rng.randrange(self.accounts)}"

    def _identifiers(self, account: str) -> list[dict]:
        rng = self.rng
        identifiers = [{"kind": "email", "value": f"{account}@mail.example"}]
        if rng.random() < 0.35:
            cluster = self.clusters[hash(account) % len(self.clusters)]
            kind = rng.choice(["device", "ip", "payment"])
            identifiers.append({"kind": kind, "value": cluster[kind]})
        return identifiers

    def report(self, reason: str, *, source: str | None = None, subject: dict | None = None):
        rng = self.rng
        self.n += 1
        automated = source == "automated_flag" or (
            source is None
            and reason in ("spam", "child_safety", "ip_infringement")
            and rng.random() < 0.6
        )
        kind = rng.choice(KINDS)
        account = self._account()
        if subject is None:
            subject = {
                "kind": kind,
                "external_id": account if kind == "account" else f"{kind}-{self.n}",
                "text": rng.choice(TEXTS[reason]),
                "url": f"https://platform.example/{kind}/{self.n}",
            }
            if kind != "account":
                subject["owner_id"] = account
        payload = {
            "source": "automated_flag" if automated else rng.choice(HUMAN_SOURCES),
            "external_id": f"demo-{self.n}",
            "reason": reason,
            "description": rng.choice(TEXTS[reason]) if not automated else "",
            "reporter_id": "" if automated else f"user-{rng.randrange(50000)}",
            "subject": subject,
            "identifiers": self._identifiers(subject.get("owner_id") or subject["external_id"]),
        }
        if automated:
            payload["detector"] = {
                "spam": "spamnet-v3",
                "child_safety": "hashmatch",
                "ip_infringement": "fingerprint",
            }.get(reason, "classifier-v2")
            payload["score"] = round(rng.uniform(0.55, 0.99), 3)
        return payload


def _shift(case_ids: list[int], report_ids: list[int], delta: timedelta) -> None:
    """Move a batch back in time, as if it had arrived ``delta`` ago."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_case SET created_at = created_at - %s, updated_at = updated_at - %s, "
            "first_action_due = first_action_due - %s, resolve_due = resolve_due - %s "
            "WHERE id = ANY(%s) AND created_at > now() - interval '1 hour'",
            [delta, delta, delta, delta, case_ids],
        )
        cursor.execute(
            "UPDATE cases_report SET received_at = received_at - %s, created_at = created_at - %s "
            "WHERE id = ANY(%s)",
            [delta, delta, report_ids],
        )
        cursor.execute(
            "UPDATE cases_caseevent SET at = at - %s WHERE case_id = ANY(%s) "
            "AND at > now() - interval '1 hour'",
            [delta, case_ids],
        )
        cursor.execute(
            "UPDATE cases_historicalcase SET history_date = history_date - %s, "
            "created_at = created_at - %s WHERE id = ANY(%s) "
            "AND history_date > now() - interval '1 hour'",
            [delta, delta, case_ids],
        )


@step("cases")
def seed_cases(*, stdout, scale: float) -> None:
    user_model = get_user_model()
    platform = user_model.objects.get(username="platform")
    target = int(5000 * scale)
    rng = random.Random(20261122)  # noqa: S311 - demo data, reproducible on purpose
    gen = _Generator(rng, target)
    reasons = list(WEIGHTS)
    weights = [WEIGHTS[r] for r in reasons]
    now = timezone.now()
    progress = Progress("cases", target)
    made = 0
    batch_no = 0
    # At least twenty batches, so even a small demo spreads over the whole month.
    batch = max(5, min(BATCH, target // 20))
    while made < target:
        batch_no += 1
        # Oldest first, so the queue looks like a month of arrivals.
        # (The batch's own cases count as made, so the newest batch arrives within the hour.)
        done = min(made + batch * 0.9, target)
        age = timedelta(days=DAYS) * (1 - done / target) + timedelta(minutes=rng.randrange(60))
        items = []
        if batch_no % 6 == 0:
            # A spam wave: one detector flags many posts of a few accounts within an hour.
            owners = [gen._account() for _ in range(3)]
            for _ in range(batch // 2):
                owner = rng.choice(owners)
                gen.n += 1
                items.append(
                    gen.report(
                        "spam",
                        source="automated_flag",
                        subject={
                            "kind": "content",
                            "external_id": f"content-{gen.n}",
                            "owner_id": owner,
                            "text": "Crypto doubler!!! send 0.1 BTC get 0.2 back " + owner,
                        },
                    )
                )
        while len(items) < batch:
            items.append(gen.report(rng.choices(reasons, weights)[0]))
        # A few reports land on subjects already reported (joining their open case).
        for _ in range(batch // 10):
            if items:
                duplicate = dict(rng.choice(items))
                gen.n += 1
                duplicate["external_id"] = f"demo-{gen.n}"
                duplicate["source"] = "user_report"
                duplicate.pop("detector", None)
                duplicate.pop("score", None)
                duplicate["reporter_id"] = f"user-{rng.randrange(50000)}"
                items.append(duplicate)
        if batch_no == 3:
            items.append(
                {
                    "source": "user_report",
                    "external_id": "demo-xss",
                    "reason": "harassment",
                    "description": "<script>alert('x')</script> reported text with markup",
                    "subject": {
                        "kind": "content",
                        "external_id": "content-xss",
                        "owner_id": "acct-xss",
                        "text": "<img src=x onerror=alert(1)> you are next",
                    },
                }
            )
        with transaction.atomic():
            results = report_submit_batch(actor=platform, items=items)
            case_ids = sorted({r.case_id for r in results if r.case_id})
            report_ids = [r.report_id for r in results if r.report_id]
            created = sum(1 for r in results if r.created_case)
            _shift(case_ids, report_ids, age)
        progress.advance(min(created, target - made))
        made += created
    progress.finish()
    elapsed = (timezone.now() - now).total_seconds()
    stdout.write(f"  {Case.objects.count()} cases in the database ({elapsed:.0f} s)\n")


# --- Media evidence ----------------------------------------------------------------------------


def _picture(name: str, size, background, shapes, lines, *, seed: int) -> bytes:
    """A demo picture: a background, coloured shapes and a few lines of text (PNG or JPEG)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)  # noqa: S311 - demo data
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    for kind, colour in shapes:
        x, y = rng.randrange(size[0] // 2), rng.randrange(size[1] // 2)
        box = (x, y, x + rng.randrange(60, size[0] // 2), y + rng.randrange(60, size[1] // 2))
        if kind == "disc":
            draw.ellipse(box, fill=colour)
        elif kind == "bar":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([(box[0], box[3]), ((box[0] + box[2]) // 2, box[1]), box[2:]], fill=colour)
    for index, line in enumerate(lines):
        draw.text((24, 24 + 26 * index), line, fill=(255, 255, 255), font_size=20)
    out = io.BytesIO()
    image.save(out, "JPEG" if name.endswith(".jpg") else "PNG", quality=88)
    return out.getvalue()


# (reason, file name, sensitive, do not open, caption, picture)
DEMO_MEDIA = [
    (
        "spam",
        "crypto-banner.png",
        False,
        False,
        "Banner attached to the reported post",
        (
            (640, 360),
            (24, 60, 140),
            [("disc", (250, 200, 40)), ("bar", (230, 60, 90))],
            ["FREE CRYPTO GIVEAWAY", "send 0.1 BTC, get 0.2 back", "(demo image)"],
        ),
    ),
    (
        "scam_fraud",
        "fake-support-chat.jpg",
        False,
        False,
        "Screenshot the reporter sent",
        (
            (480, 640),
            (236, 239, 244),
            [("bar", (47, 111, 222)), ("bar", (120, 200, 120))],
            ["Support: verify your card", "at secure-login-help.example", "(demo screenshot)"],
        ),
    ),
    (
        "harassment",
        "leaked-photo.jpg",
        True,
        False,
        "Photo posted without consent (per report)",
        (
            (800, 600),
            (120, 80, 60),
            [("disc", (230, 190, 160)), ("disc", (40, 30, 30)), ("tri", (200, 40, 40))],
            ["PRIVATE PHOTO (demo)", "sensitive: blurred until revealed"],
        ),
    ),
    (
        "violent_threat",
        "knife-threat.png",
        True,
        False,
        "Image attached to the threat",
        (
            (640, 480),
            (30, 30, 36),
            [("tri", (190, 190, 200)), ("bar", (140, 20, 20))],
            ["I'm coming tonight (demo)", "weapon image, sensitive"],
        ),
    ),
    (
        "hate",
        "hate-meme.png",
        True,
        False,
        "Meme shared in the reported thread",
        (
            (600, 600),
            (90, 20, 20),
            [("disc", (0, 0, 0)), ("tri", (240, 240, 240))],
            ["HATEFUL MEME (demo)", "text and symbols blurred"],
        ),
    ),
    (
        "child_safety",
        "restricted-context.png",
        True,
        False,
        "Context screenshot (no minor shown)",
        (
            (640, 400),
            (60, 70, 90),
            [("bar", (200, 200, 210)), ("disc", (90, 160, 220))],
            ["Chat context (demo)", "restricted: a reveal needs a reason"],
        ),
    ),
    (
        "child_safety",
        "indicator-match.png",
        True,
        True,
        "Hash-matched file: do not open",
        ((320, 320), (10, 10, 10), [("bar", (80, 80, 80))], ["withheld (demo)"]),
    ),
]
DEMO_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="80"><script>alert(1)</script>'
    b'<text x="10" y="40">Sticker (demo SVG: never rendered)</text></svg>'
)


@step("media")
def seed_media(*, stdout, scale: float) -> None:
    """Pictures on the top open cases of several queues: some sent with the report by the
    platform, some added by analysts; sensitive ones blurred, one do-not-open, one SVG."""
    from cases import media
    from cases.models import Report

    user_model = get_user_model()
    platform = user_model.objects.get(username="platform")
    analyst = user_model.objects.get(username="analyst")
    childsafety = user_model.objects.get(username="childsafety")
    added = 0
    for index, (reason, name, sensitive, do_not_open, caption, picture) in enumerate(DEMO_MEDIA):
        case = (
            Case.objects.filter(reason=reason, status__in=Case.OPEN_STATUSES)
            .order_by("severity", "-priority", "resolve_due")
            .first()
        )
        if case is None:
            continue
        size, background, shapes, lines = picture
        data = _picture(name, size, background, shapes, lines, seed=index)
        prepared = media.media_prepare(data, name, sensitive=sensitive)
        if index % 2 == 0 and not case.restricted:
            report = Report.objects.filter(case=case).order_by("received_at").first()
            media.report_media_attach(actor=platform, report_id=report.pk, files=[prepared])
        else:
            media.evidence_media_add(
                actor=childsafety if case.restricted else analyst,
                case_id=case.pk,
                prepared=prepared,
                excerpt=caption,
                sensitive=sensitive,
                do_not_open=do_not_open,
            )
        added += 1
        if reason == "spam":
            svg = media.media_prepare(DEMO_SVG, "sticker.svg", sensitive=False)
            media.evidence_media_add(
                actor=analyst,
                case_id=case.pk,
                prepared=svg,
                excerpt="Sticker from the post",
                sensitive=False,
            )
            added += 1
    stdout.write(f"  {added} media files on demo cases\n")


def claim_some(stdout) -> None:
    """Leave some cases in review with the demo analysts, as on a working day (run after the
    decisions, so they hold today's top cases rather than last month's)."""
    user_model = get_user_model()
    claimants = list(user_model.objects.filter(username__in=["analyst2", "analyst3", "associate2"]))
    claimed = 0
    for user in claimants:
        for queue in Queue.objects.filter(team=""):
            from cases.visibility import can_work_queue

            if not can_work_queue(user, queue):
                continue
            for _ in range(2):
                if services.case_claim_next(actor=user, queue=queue):
                    claimed += 1
    stdout.write(f"  {claimed} cases claimed by demo members\n")
