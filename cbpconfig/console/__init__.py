"""The console's domain-free pieces, in the plumbing so that every app's admin can use them:
form widgets made for the data (:mod:`.widgets`), history told from the audit log
(:mod:`.history`, :mod:`.history_views`) and the API-key pages (:mod:`.apikeys`).

Nothing here imports a domain app: models are named by their ``app.model`` label where a
history needs to know one (as the API-key model names ``configuration.Institution``). The
console's own pages, which read every domain app, are the top-level ``console`` app.
"""
