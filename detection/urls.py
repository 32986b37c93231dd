from detection.routes import alerts

app_name = "detection"

urlpatterns = [*alerts.pages]
