from detection.routes import operating

app_name = "detection"

urlpatterns = [*operating.pages]
