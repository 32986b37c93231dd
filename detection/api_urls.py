from detection.routes import operating, reputation, rules

urlpatterns = [*rules.api, *reputation.api, *operating.api]
