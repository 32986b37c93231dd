from detection.routes import rules

urlpatterns = [*rules.api]
