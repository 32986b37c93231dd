"""Routes of the network views (pages and API), collected by investigations.urls and .api_urls."""

pages: list = []
api: list = []
