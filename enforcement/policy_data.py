"""The policies TSOps ships with: every report reason is covered by at least one section.

Loaded by a data migration; seniors revise sections in the admin (each revision is a
new version, and decisions keep the version they were made under).
"""

from __future__ import annotations

# policy code: (name, [(section code, title, severity, reasons, legal ground, public summary,
#                       internal guidance)])
POLICIES: dict[str, tuple[str, list[tuple]]] = {
    "SPAM": (
        "Spam and platform manipulation",
        [
            (
                "SPAM-1.1",
                "Commercial spam",
                3,
                ["spam"],
                "",
                "We don't allow repetitive, unsolicited commercial content or links that mislead people "
                "about where they lead.",
                "Look for volume, identical text across accounts, link shorteners and off-platform "
                "contact details. First offence: remove content; repeated waves from one account: "
                "follow the strike ladder.",
            ),
            (
                "SPAM-1.2",
                "Fake engagement and coordinated inauthentic behaviour",
                2,
                ["spam", "other"],
                "",
                "We don't allow buying, selling or coordinating fake followers, likes or reviews.",
                "Check shared identifiers between the accounts (linked accounts panel). Action every "
                "account in the cluster, not only the reported one.",
            ),
        ],
    ),
    "FRAUD": (
        "Scams and fraud",
        [
            (
                "FRAUD-2.1",
                "Scams and financial fraud",
                1,
                ["scam_fraud"],
                "Directive (EU) 2019/713 on combating fraud and counterfeiting of non-cash means of "
                "payment",
                "We don't allow attempts to trick people out of money, goods or personal information.",
                "Confirm a loss mechanism (payment request, gift cards, crypto, fake shop). Hold open "
                "transactions; suspend the account; escalate rings to fraud-security.",
            ),
            (
                "FRAUD-2.2",
                "Account takeover and credential phishing",
                1,
                ["account_takeover"],
                "",
                "We don't allow stealing or trying to steal other people's accounts or passwords.",
                "Distinguish the victim account from the attacker's. For a taken-over account require "
                "verification rather than suspend; for phishing pages remove and suspend.",
            ),
            (
                "FRAUD-2.3",
                "Impersonation",
                2,
                ["impersonation"],
                "",
                "We don't allow pretending to be another person, brand or organisation in a way that "
                "misleads people.",
                "Parody and fan accounts that say so are allowed. Check verified originals.",
            ),
        ],
    ),
    "HARASS": (
        "Harassment, hate and privacy",
        [
            (
                "HARASS-3.1",
                "Targeted harassment and bullying",
                2,
                ["harassment"],
                "",
                "We don't allow content that targets someone to degrade, shame or intimidate them.",
                "Look at the pattern across reports, not one message. Repeated targeting of one person "
                "warrants a suspension.",
            ),
            (
                "HARASS-3.2",
                "Hateful conduct",
                2,
                ["hate"],
                "Council Framework Decision 2008/913/JHA on combating racism and xenophobia",
                "We don't allow attacks on people based on protected characteristics.",
                "Slurs and dehumanising comparisons are violations; news reporting and counter-speech "
                "are not.",
            ),
            (
                "HARASS-3.3",
                "Sharing private information (doxxing)",
                1,
                ["doxxing"],
                "Regulation (EU) 2016/679 (GDPR), Art. 6",
                "We don't allow sharing someone's private information, such as a home address, "
                "without their consent.",
                "Remove at once; addresses of minors or with threats: escalate to threats.",
            ),
        ],
    ),
    "VIOL": (
        "Violence and threats",
        [
            (
                "VIOL-4.1",
                "Credible threats of violence",
                0,
                ["violent_threat"],
                "Member-state criminal law on threats (e.g. StGB § 241)",
                "We don't allow threats to hurt or kill people.",
                "Credible = specific target, means, time or place. Remove, suspend, and escalate to "
                "threats with the packet; do not contact the reporter yourself.",
            ),
        ],
    ),
    "CHILD": (
        "Child safety",
        [
            (
                "CHILD-5.1",
                "Child sexual exploitation",
                0,
                ["child_safety"],
                "Directive 2011/93/EU on combating the sexual abuse and sexual exploitation of children",
                "We don't allow any content that sexually exploits or endangers children.",
                "Restricted: handled by the child-safety team only. Preserve evidence, ban, and follow "
                "the legal reporting procedure.",
            ),
        ],
    ),
    "SELF": (
        "Suicide and self-harm",
        [
            (
                "SELF-6.1",
                "Promotion of suicide and self-harm",
                1,
                ["self_harm"],
                "",
                "We don't allow content that encourages suicide or self-harm; we offer support to "
                "people who may be at risk.",
                "Someone at risk is not a violator: send resources, don't suspend. Remove content "
                "promoting methods.",
            ),
        ],
    ),
    "IP": (
        "Intellectual property",
        [
            (
                "IP-7.1",
                "Copyright and trademark infringement",
                3,
                ["ip_infringement"],
                "Directive (EU) 2019/790 on copyright in the Digital Single Market",
                "We remove content that infringes someone's copyright or trademark when notified.",
                "Needs a notice from the rights holder or a fingerprint match; counter-notices go to "
                "legal.",
            ),
        ],
    ),
    "GOODS": (
        "Regulated and illegal goods",
        [
            (
                "GOODS-8.1",
                "Illegal and regulated goods",
                1,
                ["illegal_goods"],
                "Regulation (EU) 2023/988 on general product safety",
                "We don't allow selling drugs, weapons, counterfeit or unsafe products.",
                "Remove listings, hold transactions in progress, suspend repeat sellers.",
            ),
        ],
    ),
    "INTEG": (
        "Civic integrity",
        [
            (
                "INTEG-9.1",
                "Election and civic misinformation",
                2,
                ["misinformation"],
                "",
                "We don't allow false information about how, when or where to vote.",
                "Label or reduce distribution for disputed claims; remove procedural falsehoods.",
            ),
        ],
    ),
    "GEN": (
        "General terms of service",
        [
            (
                "GEN-10.1",
                "Other violations of the terms of service",
                3,
                ["other", "spam"],
                "",
                "We don't allow content or behaviour that breaks our terms of service.",
                "Use only when no specific section fits; say which term in the rationale.",
            ),
        ],
    ),
}

DEFAULT_STRIKES = {
    "points_by_severity": {"0": 4, "1": 3, "2": 2, "3": 1},
    "ladder": [
        [1, "warn", None],
        [2, "suspend", 24],
        [4, "suspend", 168],
        [6, "suspend", 720],
        [8, "ban", None],
    ],
}


def install_policies(apps) -> None:
    policy_model = apps.get_model("enforcement", "Policy")
    section_model = apps.get_model("enforcement", "PolicySection")
    strikes_model = apps.get_model("enforcement", "StrikePolicy")
    for code, (name, sections) in POLICIES.items():
        policy, _ = policy_model.objects.get_or_create(code=code, defaults={"name": name})
        for sec_code, title, severity, reasons, legal, summary, guidance in sections:
            section_model.objects.get_or_create(
                code=sec_code,
                version=1,
                defaults={
                    "policy": policy,
                    "title": title,
                    "severity": severity,
                    "reasons": reasons,
                    "legal_ground": legal,
                    "public_summary": summary,
                    "internal_guidance": guidance,
                },
            )
    strikes_model.objects.get_or_create(name="Default", defaults=DEFAULT_STRIKES)
