from detection.routes import alerts, labels, operating, reputation, rules

urlpatterns = [*rules.api, *reputation.api, *operating.api, *alerts.api, *labels.api]
