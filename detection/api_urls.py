from detection.routes import reputation

urlpatterns = [*reputation.api]
