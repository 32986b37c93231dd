from detection.routes import labels

urlpatterns = [*labels.api]
