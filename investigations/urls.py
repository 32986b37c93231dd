from investigations.routes import accounts, clusters, files, network, waves

app_name = "investigations"

urlpatterns = [*accounts.pages, *network.pages, *clusters.pages, *waves.pages, *files.pages]
