from detection.routes import alerts, operating, reputation, rules

app_name = "detection"

urlpatterns = [*rules.pages, *reputation.pages, *operating.pages, *alerts.pages]
