from detection.routes import reputation, rules

app_name = "detection"

urlpatterns = [*rules.pages, *reputation.pages]
