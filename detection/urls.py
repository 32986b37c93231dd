from detection.routes import labels

app_name = "detection"

urlpatterns = [*labels.pages]
