import importlib

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tsops import demo


class Command(BaseCommand):
    help = "Load the demo data set: members for every role and each app's demo content."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when members already exist"
        )
        parser.add_argument(
            "--scale", type=float, default=1.0, help="multiply the amount of demo content"
        )

    def handle(self, *args, if_empty, scale, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo never runs with TSOPS_ENV=production")
        members = get_user_model().objects.filter(groups__isnull=False)
        if if_empty and members.exists():
            self.stdout.write("database already has members; demo data not loaded")
            return
        # Each app registers its steps in <app>/demo.py.
        for config in apps.get_app_configs():
            try:
                importlib.import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.demo":
                    raise
        for name, fn in demo.SEED_STEPS:
            self.stdout.write(f"seeding {name}…")
            fn(stdout=self.stdout, scale=scale)
        # Fresh tables have no planner statistics yet: gather them so the first pages are fast.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS("demo data loaded"))
