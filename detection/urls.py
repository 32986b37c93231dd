from detection.routes import operating, reputation, rules

app_name = "detection"

urlpatterns = [*rules.pages, *reputation.pages, *operating.pages]
