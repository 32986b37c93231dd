from detection.routes import rules

app_name = "detection"

urlpatterns = [*rules.pages]
