from detection.routes import reputation

app_name = "detection"

urlpatterns = [*reputation.pages]
