"""Demo data of detection: each area registers its seeding steps on import."""

from detection import demo_operating  # noqa: F401
