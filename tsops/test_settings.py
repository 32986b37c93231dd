"""Settings for the test suite: the normal settings with TSOPS_ENV=test."""

import os

os.environ["TSOPS_ENV"] = "test"

from tsops.settings import *  # noqa: E402,F403
