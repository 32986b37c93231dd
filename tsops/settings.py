"""TSOps settings. Everything comes from the environment (see README, "Configuration").

``TSOPS_ENV`` picks the shape: ``demo`` (default: embedded services, demo logins),
``test`` (the test suite) or ``production`` (hardened; every secret must be given).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from enforcement.territories import EU_EEA_COUNTRIES
from tsops import embedded
from tsops.config import (
    celery_broker_url,
    database_config,
    env_bool,
    env_choice,
    env_http_url,
    env_int,
    env_list,
    env_str,
    redis_url_check,
    redis_url_for_db,
)

BASE_DIR = Path(__file__).resolve().parent.parent

TSOPS_ENV = env_choice("TSOPS_ENV", ("demo", "test", "production"), "demo")
PRODUCTION = TSOPS_ENV == "production"
TESTING = TSOPS_ENV == "test"

DEBUG = env_bool("DJANGO_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be false when TSOPS_ENV=production")

_DEV_SECRET = "tsops-demo-only-secret-key-never-used-in-production-0123456789abcdef"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", required=PRODUCTION) or _DEV_SECRET
if PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY == _DEV_SECRET):
    raise ImproperlyConfigured(
        "SECRET_KEY must be a random string of at least 50 characters in production"
    )

# Keyed hash for identifiers (device, IP, email, payment): never stored raw.
_DEV_IDENTIFIER_KEY = "demo-identifier-key"
IDENTIFIER_HASH_KEY = env_str("IDENTIFIER_HASH_KEY", required=PRODUCTION) or _DEV_IDENTIFIER_KEY
if PRODUCTION and IDENTIFIER_HASH_KEY == _DEV_IDENTIFIER_KEY:
    raise ImproperlyConfigured("IDENTIFIER_HASH_KEY must not be the demo key in production")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver", "[::1]"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required in production (comma-separated hosts)")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "simple_history",
    "django_htmx",
    "axes",
    "tsops",
    "cases",
    "enforcement",
    "appeals",
    "qa",
    "escalations",
    "metrics",
    "workspace",
    "investigations",
    "detection",
]

MIDDLEWARE = [
    "tsops.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tsops.middleware.ContentSecurityPolicyMiddleware",
    "tsops.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "tsops.query_guard.SingleQueryValueMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "tsops.middleware.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tsops.urls"
WSGI_APPLICATION = "tsops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tsops.context_processors.console",
            ],
        },
    },
]

# --- Data stores --------------------------------------------------------------------------

_database_url = env_str("DATABASE_URL")
if _database_url is None:
    if PRODUCTION:
        raise ImproperlyConfigured("DATABASE_URL is required in production (postgres://...)")
    _database_url = embedded.postgres().url
DATABASES = {"default": database_config(_database_url)}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# An unreachable database fails fast (health checks answer 503 instead of hanging).
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
    "DATABASE_CONNECT_TIMEOUT", 5, minimum=1
)
DATABASES["default"]["TEST"] = {"NAME": env_str("TSOPS_TEST_DATABASE", "test_tsops")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL is None:
    if PRODUCTION:
        raise ImproperlyConfigured("REDIS_URL is required in production (redis://...)")
    REDIS_URL = embedded.redis().url
redis_url_check(REDIS_URL)
# The test suite uses other logical databases so that a running demo worker never sees its tasks,
# and each parallel test process (pytest-xdist's gw0, gw1, ...) a pair of its own, so that one
# process's throttle counters and queued tasks never reach another's.
if TESTING:
    _test_process = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    if _test_process > 6:
        raise ImproperlyConfigured("at most 7 test processes: each takes 2 of Redis's 16 databases")
    _REDIS_BROKER_DB, _REDIS_CACHE_DB = 2 + 2 * _test_process, 3 + 2 * _test_process
else:
    _REDIS_BROKER_DB, _REDIS_CACHE_DB = 0, 1

CACHES = {
    "default": {
        # Redis down or frozen reads as an empty cache after at most a second (tsops.cache).
        "BACKEND": "tsops.cache.FailOpenRedisCache",
        "LOCATION": redis_url_for_db(REDIS_URL, _REDIS_CACHE_DB),
        "KEY_PREFIX": f"tsops-{TSOPS_ENV}",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# --- Authentication and sessions ------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Object permissions are for team members only; guardian's anonymous user is not needed.
ANONYMOUS_USER_NAME = None
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Inactivity timeout: the session lives this long after the last request.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30, minimum=1)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = PRODUCTION
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Failed-login lockout (django-axes): per username and address.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Content-Security-Policy: no inline scripts, no third-party origins.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# Bulk intake posts up to 1,000 reports in one body.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 32 * 1024 * 1024, minimum=1)

# --- API -----------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tsops.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tsops.auth.HasRoleAndScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tsops.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "tsops.throttling.SlidingWindowUserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "100000/hour" if TESTING else "6000/min"),
        # Failed API-key attempts per address (tsops.auth.FailedKeyThrottle): 429 past it.
        "api_key_failures": env_str("API_KEY_FAILURE_RATE", "100000/hour" if TESTING else "30/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "TSOps API",
    "DESCRIPTION": "Trust & Safety case management: intake, cases, enforcement, appeals.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema states the stored taxonomy (report reasons, queues, policy sections, teams)
    # as enums, so generating it needs the database; `check --deploy` runs before one is
    # reachable. The test suite generates and validates it (tests/tsops/test_schema.py).
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tsops.schema.document_error_responses",
        "tsops.schema.document_blank_query_parameters",
        "tsops.schema.document_text_query_parameters",
    ],
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.Case.Status",
        "AppealStatusEnum": "appeals.models.Appeal.Status",
        "ActionStatusEnum": "enforcement.models.EnforcementAction.Status",
        "DecisionOutcomeEnum": "enforcement.models.Decision.Outcome",
        "AppealOutcomeEnum": "appeals.models.Appeal.OUTCOMES",
    },
}

# --- Celery --------------------------------------------------------------------------------

CELERY_BROKER_URL = celery_broker_url(REDIS_URL, _REDIS_BROKER_DB)
CELERY_TASK_IGNORE_RESULT = True
# Tasks are idempotent (they load by id and call one service), so redelivery is safe:
# acknowledge after running, and hand a task back if its worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
# Longer than the longest task, or Redis would redeliver a task that is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 2 * 60 * 60,
    # Fail fast when Redis is unreachable: work handed over on commit is swept up later.
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # Publishing never retries: the outbox sweep delivers whatever a failed kick missed.
    "max_retries": 0,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "tsops"
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "tsops.tasks.worker_heartbeat", "schedule": 30.0},
    "case-expire-leases": {"task": "cases.tasks.case_expire_leases", "schedule": 60.0},
    "case-sla-sweep": {"task": "cases.tasks.case_sla_sweep", "schedule": 60.0},
    "actions-expire-due": {"task": "enforcement.tasks.actions_expire_due", "schedule": 60.0},
    "outbox-dispatch": {"task": "enforcement.tasks.outbox_dispatch", "schedule": 10.0},
    "escalation-overdue": {"task": "escalations.tasks.alerts_send_overdue", "schedule": 60.0},
    "qa-samples-draw": {"task": "qa.tasks.samples_draw_due", "schedule": 3600.0},
    "metrics-rollup-incremental": {"task": "metrics.tasks.rollup_incremental", "schedule": 300.0},
    "metrics-rollup-finalize": {"task": "metrics.tasks.rollup_finalize", "schedule": 900.0},
    "investigations-clusters-find": {
        "task": "investigations.tasks.clusters_find",
        "schedule": 600.0,
    },
    "detection-rule-actions-due": {
        "task": "detection.tasks.rule_actions_apply_due",
        "schedule": 60.0,
    },
    "detection-rules-watch": {
        "task": "detection.tasks.rules_watch",
        "schedule": 300.0,
    },
    "detection-backtests-resume": {
        "task": "detection.tasks.backtests_resume_stalled",
        "schedule": 60.0,
    },
    "investigations-waves-resume": {
        "task": "investigations.tasks.waves_resume_stalled",
        "schedule": 60.0,
    },
    # Weekly precision moves once a week; hourly catches the new week soon after it closes.
    "detection-detectors-check-drift": {
        "task": "detection.tasks_operating.detectors_check_drift",
        "schedule": 3600.0,
    },
    # Evaluates the last complete hour; an hour already evaluated is skipped.
    "detection-alerts-check-volume": {
        "task": "detection.tasks_alerts.alerts_check_volume",
        "schedule": 600.0,
    },
}
# On-call alert e-mails: printed to the console unless a real backend is configured.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tsops@localhost")

WORKER_HEARTBEAT_STALE_SECONDS = env_int("WORKER_HEARTBEAT_STALE_SECONDS", 120, minimum=10)

# --- Rules and tuning of the domain apps ----------------------------------------------------

# How long after an action takes effect its user may appeal it. The DSA (Art. 20) asks for at
# least six months; enforcement.appeal_window derives every deadline and the text users read.
APPEAL_WINDOW_DAYS = env_int("APPEAL_WINDOW_DAYS", 182, minimum=1)
# The countries DSA statements of reasons say a decision applies in.
TSOPS_DSA_TERRITORIAL_SCOPE = env_list(
    "TSOPS_DSA_TERRITORIAL_SCOPE", list(EU_EEA_COUNTRIES), choices=EU_EEA_COUNTRIES
)
# The console's public address, for links in on-call alerts; unset, alerts carry paths only.
TSOPS_BASE_URL = env_http_url("TSOPS_BASE_URL")

# Platform webhooks (enforcement.outbox): attempts before a delivery fails, requests in flight
# plus answers not yet recorded per dispatcher (also the keep-alive connections kept per
# endpoint host), and how long one dispatch keeps claiming batches (under its beat interval).
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 12, minimum=1)
WEBHOOK_SEND_CONCURRENCY = env_int("WEBHOOK_SEND_CONCURRENCY", 8, minimum=1)
WEBHOOK_DISPATCH_SECONDS = env_int("WEBHOOK_DISPATCH_SECONDS", 50, minimum=1)

# Metrics rollups (metrics.rollups): each transaction's local timeouts, and the parallel
# workers one rollup query may use (0 leaves the other cores to claiming and the pages).
METRICS_ROLLUP_STATEMENT_TIMEOUT_MS = env_int(
    "METRICS_ROLLUP_STATEMENT_TIMEOUT_MS", 300_000, minimum=1
)
METRICS_ROLLUP_LOCK_TIMEOUT_MS = env_int("METRICS_ROLLUP_LOCK_TIMEOUT_MS", 5_000, minimum=1)
METRICS_ROLLUP_PARALLEL_WORKERS = env_int("METRICS_ROLLUP_PARALLEL_WORKERS", 0, minimum=0)
# After each rollup transaction commits, pause this many percent of the time it took, so that
# a rebuild running back to back holds at most 100/(100+N)% of a core and leaves the rest to
# claiming (the claim figure while the nightly rebuild runs); 0 (the default) runs rollups flat
# out: a pause doubles a rebuild's wall time at 100 and its effect on claims is not measured yet.
METRICS_ROLLUP_YIELD_PERCENT = env_int("METRICS_ROLLUP_YIELD_PERCENT", 0, minimum=0)

# The analyst workspace (workspace.presence): how often a case page and a queue page ask who
# else is on a case. Each case-page poll also adds the time since the previous one (at most
# this) to the viewer's exposure to a graphic queue; presence lasts two intervals.
WORKSPACE_POLL_SECONDS = env_int("WORKSPACE_POLL_SECONDS", 15, minimum=1)

# --- Internationalisation, static files, logging ------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / ".data" / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Media evidence (cases.media): files go through Django's storage API, never a public URL (the
# console serves them through an authorised view). By default a folder under the data
# directory; with TSOPS_MEDIA_S3_BUCKET, an S3-compatible bucket (django-storages), private.
MEDIA_ROOT = Path(
    env_str("TSOPS_MEDIA_ROOT") or str(embedded.data_dir() / ("test-media" if TESTING else "media"))
)
MEDIA_URL = "/media-is-not-served/"
TSOPS_MEDIA_S3_BUCKET = env_str("TSOPS_MEDIA_S3_BUCKET", "")
if TSOPS_MEDIA_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": TSOPS_MEDIA_S3_BUCKET,
            # Unset endpoint: AWS itself; set it for MinIO, Ceph, R2 and the like.
            "endpoint_url": env_http_url("TSOPS_MEDIA_S3_ENDPOINT_URL") or None,
            "region_name": env_str("TSOPS_MEDIA_S3_REGION") or None,
            # Unset keys: boto3's own chain (AWS_* variables, instance role).
            "access_key": env_str("TSOPS_MEDIA_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("TSOPS_MEDIA_S3_SECRET_ACCESS_KEY") or None,
            "location": env_str("TSOPS_MEDIA_S3_PREFIX", "tsops-media"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
# Limits of uploaded media: bytes per file, files per report, pixels of a decoded image
# (Pillow's MAX_IMAGE_PIXELS: more is a decompression bomb, refused), and the decoded size of
# a base64 image in a JSON report. Past any of them the upload is answered 413.
TSOPS_MEDIA_MAX_BYTES = env_int("TSOPS_MEDIA_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
TSOPS_MEDIA_MAX_FILES = env_int("TSOPS_MEDIA_MAX_FILES", 10, minimum=1)
TSOPS_MEDIA_MAX_PIXELS = env_int("TSOPS_MEDIA_MAX_PIXELS", 40_000_000, minimum=1)
TSOPS_MEDIA_BASE64_MAX_BYTES = env_int("TSOPS_MEDIA_BASE64_MAX_BYTES", 1024 * 1024, minimum=1)
# An uploaded file stops being read past TSOPS_MEDIA_MAX_BYTES (then answered 413).
FILE_UPLOAD_HANDLERS = [
    "cases.media.MediaSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Above the single case (investigations) ---------------------------------------------------

_IDENTIFIER_KINDS = ("device", "ip", "email", "phone", "payment")
# A background job (wave, cluster scan, backtest) whose heartbeat is older than this is taken
# over by the next worker that looks (a killed worker's job resumes).
TSOPS_JOB_STALE_SECONDS = env_int("TSOPS_JOB_STALE_SECONDS", 120, minimum=5)
# An identifier shared by more accounts than this is a hub (office IP, carrier NAT, a popular
# device model): a network shows it as one node and expands it only when asked.
TSOPS_NETWORK_HUB_LIMIT = env_int("TSOPS_NETWORK_HUB_LIMIT", 25, minimum=2)
# The most accounts one network answer holds (then it says truncated).
TSOPS_NETWORK_MAX_NODES = env_int("TSOPS_NETWORK_MAX_NODES", 300, minimum=10)
# Identifier kinds that make an account an evasion suspect when shared with an account under
# an active suspension or ban, and how many severity levels a suspect's case is raised.
TSOPS_EVASION_KINDS = env_list(
    "TSOPS_EVASION_KINDS", ["device", "payment", "email"], choices=_IDENTIFIER_KINDS
)
TSOPS_EVASION_SEVERITY_BUMP = env_int("TSOPS_EVASION_SEVERITY_BUMP", 1, minimum=0)
# The cluster job: identifier kinds strong enough to link a coordinated group, the smallest
# group worth a cluster, the window and similarity of near-identical content.
TSOPS_CLUSTER_STRONG_KINDS = env_list(
    "TSOPS_CLUSTER_STRONG_KINDS", ["device", "payment", "email", "phone"], choices=_IDENTIFIER_KINDS
)
TSOPS_CLUSTER_MIN_SIZE = env_int("TSOPS_CLUSTER_MIN_SIZE", 3, minimum=2)
TSOPS_CLUSTER_CONTENT_WINDOW_HOURS = env_int("TSOPS_CLUSTER_CONTENT_WINDOW_HOURS", 72, minimum=1)
TSOPS_CLUSTER_SIMILARITY_PERCENT = env_int("TSOPS_CLUSTER_SIMILARITY_PERCENT", 80, minimum=1)
# Waves: the most members an analyst may enforce on at once (larger waves need a senior), and
# the most any wave may hold.
TSOPS_WAVE_ANALYST_MAX = env_int("TSOPS_WAVE_ANALYST_MAX", 200, minimum=1)
TSOPS_WAVE_MAX = env_int("TSOPS_WAVE_MAX", 20000, minimum=1)

# --- Detection: rules ---------------------------------------------------------------------------

# The most an expression may cost (CEL's estimate: a unit per operation, a comprehension
# its body times the list's bound): nothing slower can reach intake.
TSOPS_RULE_COST_LIMIT = env_int("TSOPS_RULE_COST_LIMIT", 1000, minimum=10)
# Action types a rule may apply by itself (automated decisions); any other action a rule asks
# for is proposed to a human. Low-impact types only.
TSOPS_RULE_AUTO_ACTIONS = env_list(
    "TSOPS_RULE_AUTO_ACTIONS",
    ["remove_content", "label", "warn"],
    choices=("remove_content", "label", "reduce_distribution", "age_restrict", "warn"),
)
# The longest an automated action may wait for a human to step in.
TSOPS_RULE_MAX_DELAY_HOURS = env_int("TSOPS_RULE_MAX_DELAY_HOURS", 168, minimum=0)
# A live rule that matches more than this share of an hour's intake (with at least
# TSOPS_RULE_RUNAWAY_MIN_REPORTS reports in the hour) pauses itself until a senior resumes it.
TSOPS_RULE_RUNAWAY_PERCENT = env_int("TSOPS_RULE_RUNAWAY_PERCENT", 50, minimum=1)
TSOPS_RULE_RUNAWAY_MIN_REPORTS = env_int("TSOPS_RULE_RUNAWAY_MIN_REPORTS", 50, minimum=1)
# A shadow rule whose live hourly volume departs from its backtest's by more than this factor
# (either way) says so and raises an alert.
TSOPS_RULE_SHADOW_DRIFT_FACTOR = env_int("TSOPS_RULE_SHADOW_DRIFT_FACTOR", 3, minimum=2)
# The longest period one backtest replays.
TSOPS_BACKTEST_MAX_DAYS = env_int("TSOPS_BACKTEST_MAX_DAYS", 90, minimum=1)
# --- Detection: reputation ---

# Reporter reputation is the posterior mean of a Beta(alpha, beta) prior updated with the
# reporter's decided reports: (alpha + confirmed) / (alpha + beta + decided). Pseudo-counts.
TSOPS_REPUTATION_PRIOR_ALPHA = env_int("TSOPS_REPUTATION_PRIOR_ALPHA", 2, minimum=1)
TSOPS_REPUTATION_PRIOR_BETA = env_int("TSOPS_REPUTATION_PRIOR_BETA", 2, minimum=1)
# A score at or above this (percent) is a good record: such a reporter's report raises a
# case's claim priority once; at or below the poor mark it is a poor record (shown as such).
TSOPS_REPUTATION_GOOD_PERCENT = env_int("TSOPS_REPUTATION_GOOD_PERCENT", 70, minimum=1)
TSOPS_REPUTATION_POOR_PERCENT = env_int("TSOPS_REPUTATION_POOR_PERCENT", 30, minimum=0)
if TSOPS_REPUTATION_POOR_PERCENT >= TSOPS_REPUTATION_GOOD_PERCENT:
    raise ImproperlyConfigured(
        "TSOPS_REPUTATION_POOR_PERCENT must be below TSOPS_REPUTATION_GOOD_PERCENT."
    )
# How often (seconds) the incremental reputation job reads what changed since its watermark.
TSOPS_REPUTATION_REFRESH_SECONDS = env_int("TSOPS_REPUTATION_REFRESH_SECONDS", 300, minimum=10)
CELERY_BEAT_SCHEDULE["detection-reputation-refresh"] = {
    "task": "detection.tasks.reputation_refresh",
    "schedule": float(TSOPS_REPUTATION_REFRESH_SECONDS),
}
# --- Detection: operating points -------------------------------------------------------------


def _precision_targets(raw: str) -> dict[int, float]:
    """``"0:0.98,1:0.95"`` -> {0: 0.98, 1: 0.95}: the precision a detector threshold must reach
    (its Wilson lower bound) to be recommended for cases of that severity."""
    targets: dict[int, float] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        severity, _, target = part.partition(":")
        try:
            value = float(target)
            targets[int(severity)] = value
        except ValueError:
            raise ImproperlyConfigured(f"TSOPS_DETECTOR_TARGET_PRECISION: bad entry {part!r}")
        if not 0 < value <= 1:
            raise ImproperlyConfigured(f"TSOPS_DETECTOR_TARGET_PRECISION: {part!r} not in (0, 1]")
    return targets


TSOPS_DETECTOR_TARGET_PRECISION = _precision_targets(
    env_str("TSOPS_DETECTOR_TARGET_PRECISION", "0:0.98,1:0.95,2:0.90,3:0.80")
)
# A threshold is recommended, and a week tested for drift, only on this many decided flags.
TSOPS_DETECTOR_MIN_DECIDED = env_int("TSOPS_DETECTOR_MIN_DECIDED", 20, minimum=1)
# The default window of the operating points (days back from today).
TSOPS_DETECTOR_WINDOW_DAYS = env_int("TSOPS_DETECTOR_WINDOW_DAYS", 90, minimum=1)
# Weeks shown per detector; all but the latest complete one form the drift baseline.
TSOPS_DETECTOR_DRIFT_WEEKS = env_int("TSOPS_DETECTOR_DRIFT_WEEKS", 9, minimum=2)
# --- Detection: alerts ---
# Report volume per (reason, subject kind, source) and hour is tested against the same hour of
# the week over this many past weeks; an hour departs when the one-sided Poisson tail
# P(X >= observed) is below 1 - TSOPS_ALERT_CONFIDENCE and at least TSOPS_ALERT_MIN_COUNT
# reports came in. An open volume alert resolves itself after TSOPS_ALERT_QUIET_HOURS
# consecutive normal hours (an acknowledged one waits for a person).
TSOPS_ALERT_BASELINE_WEEKS = env_int("TSOPS_ALERT_BASELINE_WEEKS", 4, minimum=1)


def _env_confidence(name: str, default: float) -> float:
    raw = env_str(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not 0.5 <= value < 1:
        raise ImproperlyConfigured(f"{name} must be at least 0.5 and below 1, got {raw!r}")
    return value


TSOPS_ALERT_CONFIDENCE = _env_confidence("TSOPS_ALERT_CONFIDENCE", 0.999)
TSOPS_ALERT_MIN_COUNT = env_int("TSOPS_ALERT_MIN_COUNT", 10, minimum=1)
TSOPS_ALERT_QUIET_HOURS = env_int("TSOPS_ALERT_QUIET_HOURS", 3, minimum=1)
# The console member paged (in-app and e-mail) when an alert concerning no specialist team
# opens; unset, every senior is told in-app. A team's alerts page the team's on-call member.
TSOPS_ALERT_ONCALL = env_str("TSOPS_ALERT_ONCALL", "")
# --- Detection: labels ---


# The labelled-data export (detection.selectors.labels): the shares of the exported period that
# make the train, validation and test splits, in time order (three numbers adding up to 1), the
# longest period one export may cover, and the rows one round trip of its server-side cursor
# fetches (memory stays bounded by this, whatever the export's size).
def _label_splits(name: str, default: list[str]) -> tuple[float, float, float]:
    items = env_list(name, default)
    try:
        shares = tuple(float(item) for item in items)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must list three numbers, got {items!r}") from None
    if len(shares) != 3 or any(s < 0 for s in shares) or abs(sum(shares) - 1) > 1e-9:
        raise ImproperlyConfigured(f"{name} must list three shares adding up to 1, got {items!r}")
    return shares


TSOPS_LABEL_SPLITS = _label_splits("TSOPS_LABEL_SPLITS", ["0.8", "0.1", "0.1"])
TSOPS_LABEL_EXPORT_MAX_DAYS = env_int("TSOPS_LABEL_EXPORT_MAX_DAYS", 366, minimum=1)
TSOPS_LABEL_EXPORT_CHUNK_SIZE = env_int("TSOPS_LABEL_EXPORT_CHUNK_SIZE", 2000, minimum=1)

# Outside production the files are served straight from the source folders.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# Demo members' password (never in production: seed_demo refuses to run there).
DEMO_PASSWORD = env_str("TSOPS_DEMO_PASSWORD", "tsops-demo-pass")
