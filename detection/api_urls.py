from detection.routes import alerts

urlpatterns = [*alerts.api]
