from detection.routes import alerts, operating, reputation, rules

urlpatterns = [*rules.api, *reputation.api, *operating.api, *alerts.api]
