from detection.routes import alerts, labels, operating, reputation, rules

app_name = "detection"

urlpatterns = [*rules.pages, *reputation.pages, *operating.pages, *alerts.pages, *labels.pages]
