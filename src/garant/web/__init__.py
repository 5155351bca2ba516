"""Garant's web pages: server-rendered HTML (Jinja2) over the JSON API, plus static assets.

The pages hold no data of their own: they fetch the same-origin `/api/v1` endpoints, so the API
stays the one contract and the pages are thin views on it. Every asset a page loads (Leaflet
included) is served from `static/`, because deployments may have no internet: no CDN, no tiles.
"""
