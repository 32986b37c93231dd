from investigations.routes import accounts, clusters, files, network, waves

urlpatterns = [*accounts.api, *network.api, *clusters.api, *waves.api, *files.api]
