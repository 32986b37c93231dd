from detection.routes import operating

urlpatterns = [*operating.api]
