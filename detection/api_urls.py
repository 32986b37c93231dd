from detection.routes import reputation, rules

urlpatterns = [*rules.api, *reputation.api]
